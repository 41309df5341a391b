//! A run's journal and the lock that keeps runs one at a time.
//!
//! The journal (`<lake>/_retention/run-<seq>.json`, counts and file hashes
//! only, never an id) is written atomically before stage 1 and marked done
//! at the end. A run killed anywhere after it leaves an unfinished journal;
//! the next run resumes it: every step checks the lake before acting
//! (markers written? table marked? DELETE committed? MI written?), so
//! resuming ends in the state an uninterrupted run would have reached. A
//! run killed before the journal was written did nothing to the lake.

use super::RetentionError;
use super::withdrawals::WithdrawalReceipt;
use crate::lake::Lake;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
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

pub fn dir(lake: &Lake) -> PathBuf {
    lake.root().join("_retention")
}

fn path(lake: &Lake, seq: i64) -> PathBuf {
    dir(lake).join(format!("run-{seq:08}.json"))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RetentionError + '_ {
    move |source| RetentionError::Io { path: path.display().to_string(), source }
}

/// Writes the journal so that a crash leaves either the old or the new one.
pub fn write(lake: &Lake, j: &Journal) -> Result<(), RetentionError> {
    let d = dir(lake);
    fs::create_dir_all(&d).map_err(io(&d))?;
    let dest = path(lake, j.header.seq);
    let tmp = dest.with_extension("json.tmp");
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&serde_json::to_vec_pretty(j).expect("journal serialises")).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &dest).map_err(io(&dest))?;
    if let Ok(d) = fs::File::open(&d) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn all(lake: &Lake) -> Result<Vec<Journal>, RetentionError> {
    let d = dir(lake);
    let entries = match fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&d)(e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("run-") && name.ends_with(".json")) {
            continue;
        }
        let p = e.path();
        let bytes = fs::read(&p).map_err(io(&p))?;
        let j: Journal =
            serde_json::from_slice(&bytes).map_err(|e| RetentionError::Journal { path: p.display().to_string(), reason: e.to_string() })?;
        out.push(j);
    }
    out.sort_by_key(|j| j.header.seq);
    Ok(out)
}

/// Removes the journal of a run that changed nothing in the lake.
pub fn discard(lake: &Lake, seq: i64) -> Result<(), RetentionError> {
    let p = path(lake, seq);
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&p)(e)),
    }
}

/// The unfinished run, if one was interrupted.
pub fn unfinished(lake: &Lake) -> Result<Option<Journal>, RetentionError> {
    Ok(all(lake)?.into_iter().rev().find(|j| !j.done))
}

/// The highest sequence number any journal holds (0: none).
pub fn max_seq(lake: &Lake) -> Result<i64, RetentionError> {
    Ok(all(lake)?.last().map_or(0, |j| j.header.seq))
}

/// Held while a run works; released by the OS if the process dies.
pub struct RunLock {
    _file: fs::File,
}

impl RunLock {
    pub fn take(lake: &Lake) -> Result<RunLock, RetentionError> {
        let d = dir(lake);
        fs::create_dir_all(&d).map_err(io(&d))?;
        let p = d.join("lock");
        let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p).map_err(io(&p))?;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            return Err(RetentionError::Busy);
        }
        Ok(RunLock { _file: file })
    }
}
