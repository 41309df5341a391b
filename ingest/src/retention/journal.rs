//! A run's journal and the lock that keeps runs one at a time.
//!
//! The journal (`<lake>/_retention/run-<seq>.json`, on disk or in the
//! lake's object store, counts and file hashes
//! only, never an id) is written atomically before stage 1 and marked done
//! at the end. A run killed anywhere after it leaves an unfinished journal;
//! the next run resumes it: every step checks the lake before acting
//! (markers written? table marked? DELETE committed? MI written?), so
//! resuming ends in the state an uninterrupted run would have reached. A
//! run killed before the journal was written did nothing to the lake.

use super::RetentionError;
use super::withdrawals::WithdrawalReceipt;
use crate::lake::Lake;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, UpdateVersion};
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vru_lake::LakeError;
use vru_model::retention::schema::{RunHeader, RunRow};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    pub header: RunHeader,
    /// The run's management information (stage 2 fills `verified`).
    pub rows: Vec<RunRow>,
    /// Tables the run marked.
    pub tables: Vec<String>,
    /// SHA-256 of extracts holding an erased event: their raw files go too.
    pub extracts: Vec<String>,
    /// SHA-256 of partner and record id of every record erased: raw files
    /// holding one go (see `files::record_key`). Hashes, never ids.
    #[serde(default)]
    pub records: Vec<String>,
    /// Withdrawal files this run applies, with the receipts to write.
    pub withdrawals: Vec<WithdrawalReceipt>,
    /// Tables created before the statistics rule, migrated in stage 2.
    pub legacy: Vec<String>,
    pub done: bool,
}

/// Where the journal lives: beside the tables, in the lake's own storage,
/// so that the next run finds it whichever machine runs it.
enum Place {
    Dir(PathBuf),
    Store(Arc<dyn ObjectStore>),
}

fn place(lake: &Lake) -> Result<Place, RetentionError> {
    Ok(match lake.local_root() {
        Some(root) => Place::Dir(root.join(DIR)),
        None => Place::Store(lake.store()?),
    })
}

const DIR: &str = "_retention";

fn name(seq: i64) -> String {
    format!("run-{seq:08}.json")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RetentionError + '_ {
    move |source| RetentionError::Io { path: path.display().to_string(), source }
}

fn store_err(path: &StorePath) -> impl Fn(object_store::Error) -> RetentionError + '_ {
    move |source| LakeError::Store { path: path.to_string(), source: Box::new(source) }.into()
}

/// Writes the journal so that a crash leaves either the old or the new one
/// (a rename on disk; an object store's put is atomic).
pub async fn write(lake: &Lake, j: &Journal) -> Result<(), RetentionError> {
    let bytes = serde_json::to_vec_pretty(j).expect("journal serialises");
    match place(lake)? {
        Place::Dir(d) => {
            fs::create_dir_all(&d).map_err(io(&d))?;
            let dest = d.join(name(j.header.seq));
            let tmp = dest.with_extension("json.tmp");
            let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            fs::rename(&tmp, &dest).map_err(io(&dest))?;
            if let Ok(d) = fs::File::open(&d) {
                let _ = d.sync_all();
            }
        }
        Place::Store(store) => {
            let p = StorePath::from(format!("{DIR}/{}", name(j.header.seq)));
            store.put(&p, bytes.into()).await.map_err(store_err(&p))?;
        }
    }
    Ok(())
}

fn parse(path: &str, bytes: &[u8]) -> Result<Journal, RetentionError> {
    serde_json::from_slice(bytes).map_err(|e| RetentionError::Journal { path: path.to_string(), reason: e.to_string() })
}

fn is_journal(name: &str) -> bool {
    name.starts_with("run-") && name.ends_with(".json")
}

async fn all(lake: &Lake) -> Result<Vec<Journal>, RetentionError> {
    let mut out = Vec::new();
    match place(lake)? {
        Place::Dir(d) => {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io(&d)(e)),
            };
            for e in entries.flatten() {
                if is_journal(&e.file_name().to_string_lossy()) {
                    let p = e.path();
                    out.push(parse(&p.display().to_string(), &fs::read(&p).map_err(io(&p))?)?);
                }
            }
        }
        Place::Store(store) => {
            let dir = StorePath::from(DIR);
            let listed = store.list_with_delimiter(Some(&dir)).await.map_err(store_err(&dir))?;
            for o in listed.objects.iter().filter(|o| o.location.filename().is_some_and(is_journal)) {
                let bytes = store.get(&o.location).await.map_err(store_err(&o.location))?.bytes().await.map_err(store_err(&o.location))?;
                out.push(parse(o.location.as_ref(), &bytes)?);
            }
        }
    }
    out.sort_by_key(|j| j.header.seq);
    Ok(out)
}

/// Removes the journal of a run that changed nothing in the lake.
pub async fn discard(lake: &Lake, seq: i64) -> Result<(), RetentionError> {
    match place(lake)? {
        Place::Dir(d) => {
            let p = d.join(name(seq));
            match fs::remove_file(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(&p)(e)),
            }
        }
        Place::Store(store) => {
            let p = StorePath::from(format!("{DIR}/{}", name(seq)));
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(store_err(&p)(e)),
            }
        }
    }
}

/// The unfinished run, if one was interrupted.
pub async fn unfinished(lake: &Lake) -> Result<Option<Journal>, RetentionError> {
    Ok(all(lake).await?.into_iter().rev().find(|j| !j.done))
}

/// The highest sequence number any journal holds (0: none).
pub async fn max_seq(lake: &Lake) -> Result<i64, RetentionError> {
    Ok(all(lake).await?.last().map_or(0, |j| j.header.seq))
}

/// How long a lease on an object-store lake holds when its run dies
/// without releasing it: the next run after that takes it over (and
/// resumes the dead run's journal). Longer than any run we measured.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Held while a run works. On a local lake an `flock`, released by the OS
/// if the process dies; on an object store a lease object created with a
/// conditional put (only one run can create it), released at the end of
/// the run or taken over once it has expired.
pub enum RunLock {
    File(fs::File),
    Lease(Arc<dyn ObjectStore>, StorePath),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Lease {
    holder: String,
    expires_unix: u64,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl RunLock {
    pub async fn take(lake: &Lake) -> Result<RunLock, RetentionError> {
        match place(lake)? {
            Place::Dir(d) => {
                fs::create_dir_all(&d).map_err(io(&d))?;
                let p = d.join("lock");
                let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p).map_err(io(&p))?;
                // SAFETY: flock on a descriptor we own; no memory is passed.
                let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                if r != 0 {
                    return Err(RetentionError::Busy);
                }
                Ok(RunLock::File(file))
            }
            Place::Store(store) => {
                let p = StorePath::from(format!("{DIR}/lock"));
                let lease = Lease { holder: format!("pid {}", std::process::id()), expires_unix: now_unix() + LEASE.as_secs() };
                let body = serde_json::to_vec(&lease).expect("lease serialises");
                let create = PutOptions { mode: PutMode::Create, ..Default::default() };
                match store.put_opts(&p, body.clone().into(), create).await {
                    Ok(_) => return Ok(RunLock::Lease(store, p)),
                    Err(object_store::Error::AlreadyExists { .. }) => {}
                    Err(e) => return Err(store_err(&p)(e)),
                }
                let held = store.get(&p).await.map_err(store_err(&p))?;
                let version = UpdateVersion { e_tag: held.meta.e_tag.clone(), version: held.meta.version.clone() };
                let old: Option<Lease> = serde_json::from_slice(&held.bytes().await.map_err(store_err(&p))?).ok();
                if old.is_some_and(|l| l.expires_unix > now_unix()) {
                    return Err(RetentionError::Busy);
                }
                // Expired (its run died): take it over, unless another run
                // did so first (the conditional update then fails).
                let update = PutOptions { mode: PutMode::Update(version), ..Default::default() };
                match store.put_opts(&p, body.into(), update).await {
                    Ok(_) => {
                        tracing::warn!("took over an expired retention lease (a run died without releasing it)");
                        Ok(RunLock::Lease(store, p))
                    }
                    Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => Err(RetentionError::Busy),
                    Err(e) => Err(store_err(&p)(e)),
                }
            }
        }
    }

    /// Ends the run's hold (an flock is released by dropping it).
    pub async fn release(self) {
        if let RunLock::Lease(store, p) = self
            && let Err(e) = store.delete(&p).await
        {
            tracing::warn!(error = %e, "could not release the retention lease; it expires by itself");
        }
    }
}
