//! The landing folder partners drop extracts into: one sub-folder per
//! partner (`police-northshire/`), each file processed once, then moved to
//! the partner's `processed/` or `rejected/` with its receipt beside it.
//!
//! Everything in a partner's folder is the partner's to write, so nothing
//! in it is trusted and nothing in it can stop the others: every entry is
//! looked at without following links or opening it first, anything but a
//! regular `.csv` / `.csv.gz` file with a sensible name is refused with a
//! receipt (or, when not even that can be written, logged once and left),
//! and every failure is that file's alone. Which files were already
//! ingested is known from the lake's `extract_receipts`, never from
//! receipts in partners' folders, which anyone with access could forge.
//!
//! A file is published only after room for its receipt has been reserved,
//! so a full disk or a read-only folder leaves it in place with nothing of
//! it published.
//!
//! Partners should write a file under a temporary name (`*.tmp`, `*.part`,
//! `*.filepart`, a leading dot) and rename it when complete; files are also
//! left alone until they have not changed for the settle time.

use crate::extract::{ExtractJob, ExtractRules, KnownEvents, MAX_NAME_BYTES, display_name, extract_date, file_sha256};
use crate::sink::{EventSink, Offsets, SinkError};
use chrono::Utc;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use vru_model::classification::Catalogue;
use vru_model::receipt::{Receipt, Status};

pub const PROCESSED: &str = "processed";
pub const REJECTED: &str = "rejected";

/// Room kept for a receipt before its file is published: a receipt lists
/// at most 1000 issues of a few hundred bytes.
const RESERVED_RECEIPT_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub partner: String,
    pub path: PathBuf,
    /// How receipts and logs name the file.
    pub shown: String,
}

/// A file to refuse without reading it, and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub candidate: Candidate,
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    pub ready: Vec<Candidate>,
    pub refuse: Vec<Refusal>,
    /// Files changed within the settle time: a one-off sweep waits for them.
    pub settling: usize,
}

pub struct Landing {
    root: PathBuf,
    settle: Duration,
    /// SHA-256 of every file accepted, from the lake and from this run: a
    /// file dropped twice is recognised rather than published again.
    seen: HashSet<String>,
    /// Problems already logged, by path and the file's state then, so an
    /// entry left in a folder is reported once, not at every poll.
    reported: HashMap<PathBuf, (Option<SystemTime>, u64)>,
}

/// A withdrawal request (`withdrawals_*.csv`): the retention run handles
/// it, not ingest.
pub fn is_withdrawal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("withdrawals_") || lower.starts_with("withdrawals.")) && !is_temporary(name)
}

/// Names upload tools give a file while it is being written (WinSCP's
/// `.filepart`, browsers' `.crdownload`, Office's `~$` lock files, SMB's
/// `.TMP`): not to be read yet, and not to be refused either.
pub fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    const SUFFIXES: &[&str] = &[".tmp", ".temp", ".part", ".partial", ".filepart", ".crdownload", ".download", ".swp", "~"];
    lower.starts_with('.') || lower.starts_with("~$") || SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// What is wrong with a name before the file is even opened.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_NAME_BYTES {
        return Some(format!("the file name is {} bytes long; at most {MAX_NAME_BYTES} are accepted: rename it shorter", name.len()));
    }
    if name.chars().any(char::is_control) {
        return Some("the file name contains control characters: rename it".into());
    }
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".csv") || lower.ends_with(".csv.gz")) {
        return Some("only .csv and .csv.gz files are read: save the extract as CSV (UTF-8), optionally gzipped".into());
    }
    None
}

fn state(meta: &fs::Metadata) -> (Option<SystemTime>, u64) {
    (meta.modified().ok(), meta.len())
}

/// `dir` exists as a real directory (created if missing), never a link.
pub(crate) fn real_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists but is not a directory", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(dir),
        Err(e) => Err(e),
    }
}

/// Room for one receipt, taken before anything is published.
pub struct Reservation {
    file: fs::File,
    path: PathBuf,
}

impl Reservation {
    fn take(dir: &Path, key: &str) -> io::Result<Reservation> {
        use sha2::{Digest, Sha256};
        let path = dir.join(format!(".vru-{}.receipt.tmp", &hex::encode(Sha256::digest(key.as_bytes()))[..16]));
        // Ours by name; whatever a crash or a partner left there goes.
        let _ = fs::remove_file(&path);
        let mut file = fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).mode(0o640).open(&path)?;
        let zeros = vec![0u8; RESERVED_RECEIPT_BYTES];
        if let Err(e) = file.write_all(&zeros).and_then(|_| file.sync_all()) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(Reservation { file, path })
    }

    /// Writes `receipt` into the reserved room and names it `dest`.
    fn fill(mut self, receipt: &Receipt, dest: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(receipt).expect("receipt serialises");
        self.file.seek(io::SeekFrom::Start(0))?;
        self.file.write_all(&json)?;
        self.file.set_len(json.len() as u64)?;
        self.file.sync_all()?;
        fs::rename(&self.path, dest)
    }

    fn release(self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Landing {
    /// `accepted`: SHA-256 of every extract the lake already holds.
    pub fn open(root: impl Into<PathBuf>, settle: Duration, accepted: HashSet<String>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(Landing { root, settle, seen: accepted, reported: HashMap::new() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Logs a problem with `path` once per state of the entry.
    fn report_once(&mut self, path: &Path, meta: Option<&fs::Metadata>, message: &str) {
        let now = meta.map(state).unwrap_or((None, 0));
        if self.reported.get(path) != Some(&now) {
            tracing::error!(path = %display_path(path), "{message}");
            self.reported.insert(path.to_path_buf(), now);
        }
    }

    /// Files ready to ingest and entries to refuse, partner by partner, in
    /// name order (extract dates in names make that the order they were
    /// taken). A partner folder that cannot be read is skipped and logged.
    pub fn scan(&mut self) -> Scan {
        let mut out = Scan::default();
        let now = SystemTime::now();
        let partners = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) => {
                let root = self.root.clone();
                self.report_once(&root, None, &format!("cannot read the landing folder: {e}"));
                return out;
            }
        };
        let mut partners: Vec<_> = partners.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).collect();
        partners.sort_by_key(|e| e.file_name());
        for partner in partners {
            let Some(pname) = partner.file_name().to_str().map(str::to_string) else { continue };
            if pname.starts_with('.') {
                continue;
            }
            let files = match fs::read_dir(partner.path()) {
                Ok(f) => f,
                Err(e) => {
                    self.report_once(&partner.path(), None, &format!("cannot read partner folder: {e}"));
                    continue;
                }
            };
            let mut files: Vec<_> = files.flatten().collect();
            files.sort_by_key(|e| e.file_name());
            for f in files {
                let path = f.path();
                // Never follows a link: the entry itself.
                let Ok(meta) = fs::symlink_metadata(&path) else { continue };
                let name_os = f.file_name();
                let name = name_os.to_string_lossy();
                // Withdrawal files are the retention run's (`vru retention apply`).
                if meta.file_type().is_dir() || is_temporary(&name) || is_withdrawal(&name) {
                    continue;
                }
                let shown = if name_os.to_str().is_some() {
                    display_name(&name)
                } else {
                    format!("[file name withheld: not UTF-8, {} bytes]", name.len())
                };
                let candidate = Candidate { partner: pname.clone(), path: path.clone(), shown };
                let problem = if name_os.to_str().is_none() {
                    Some("the file name is not valid UTF-8: rename it".to_string())
                } else if meta.file_type().is_symlink() {
                    Some("symbolic links are not followed in the landing folder: copy the file itself".to_string())
                } else if !meta.file_type().is_file() {
                    Some("not a regular file (a pipe, socket or device): only files are read".to_string())
                } else {
                    name_problem(&name)
                };
                if let Some(reason) = problem {
                    out.refuse.push(Refusal { candidate, reason });
                    continue;
                }
                let settled = meta.modified().is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= self.settle);
                if settled {
                    out.ready.push(candidate);
                } else {
                    out.settling += 1;
                }
            }
        }
        out
    }

    /// Checks the partner's `processed/` and `rejected/` are directories and
    /// reserves room for a receipt: until both hold, nothing is published.
    fn prepare(&mut self, c: &Candidate) -> Option<Reservation> {
        let dir = self.root.join(&c.partner);
        for sub in [PROCESSED, REJECTED] {
            if let Err(e) = real_dir(&dir.join(sub)) {
                let meta = fs::symlink_metadata(&c.path).ok();
                self.report_once(
                    &c.path,
                    meta.as_ref(),
                    &format!("left in place, nothing published: the partner's `{sub}` folder is unusable ({e}); fix or remove it"),
                );
                return None;
            }
        }
        match Reservation::take(&dir.join(PROCESSED), &c.path.to_string_lossy()) {
            Ok(r) => Some(r),
            Err(e) => {
                let meta = fs::symlink_metadata(&c.path).ok();
                self.report_once(&c.path, meta.as_ref(), &format!("left in place, nothing published: no room for its receipt ({e})"));
                None
            }
        }
    }

    /// Publishes one file (or recognises it as a duplicate) without moving
    /// it: it stays in place until [`file_away`](Self::file_away), so a crash
    /// before its events are durable means it is read again. `Ok(None)`:
    /// the file is left for a later sweep, nothing of it published.
    pub fn ingest(
        &mut self,
        c: &Candidate,
        sink: &mut dyn EventSink,
        catalogue: &Catalogue,
        rules: &ExtractRules,
        known: &dyn KnownEvents,
    ) -> Result<Option<Ingested>, SinkError> {
        let Some(reservation) = self.prepare(c) else { return Ok(None) };
        let hash = match file_sha256(&c.path) {
            Ok(h) => h,
            Err(e) => {
                reservation.release();
                let meta = fs::symlink_metadata(&c.path).ok();
                self.report_once(&c.path, meta.as_ref(), &format!("left in place: cannot read it ({e})"));
                return Ok(None);
            }
        };
        if self.seen.contains(&hash) {
            let receipt = refusal_receipt(
                c,
                Status::Duplicate,
                hash,
                "the same file (same SHA-256) was ingested before; nothing was published again",
            );
            return Ok(Some(Ingested { candidate: c.clone(), receipt, awaiting: None, reservation }));
        }
        let processed = self.root.join(&c.partner).join(PROCESSED);
        let quarantine = processed.join(format!(".vru-{}.rejected-rows.tmp", &hash[..16]));
        let mut job = ExtractJob::new(&c.path, &c.partner, catalogue, rules, Utc::now()).quarantine(&quarantine).known(known);
        job.display_name = Some(&c.shown);
        match job.run_unsettled(sink) {
            Ok((receipt, awaiting)) => Ok(Some(Ingested { candidate: c.clone(), receipt, awaiting, reservation })),
            Err(e) => {
                let _ = fs::remove_file(&quarantine);
                reservation.release();
                Err(e)
            }
        }
    }

    /// Refuses an entry found by the scan, moving it to `rejected/` (under
    /// a safe name if its own is not) with a receipt. Nothing is read.
    pub fn refuse(&mut self, r: &Refusal) -> Option<Receipt> {
        let reservation = self.prepare(&r.candidate)?;
        let receipt = refusal_receipt(&r.candidate, Status::Rejected, String::new(), &r.reason);
        let done = Ingested { candidate: r.candidate.clone(), receipt, awaiting: None, reservation };
        match self.file_away(done) {
            Ok(receipt) => Some(receipt),
            Err(e) => {
                let meta = fs::symlink_metadata(&r.candidate.path).ok();
                self.report_once(&r.candidate.path, meta.as_ref(), &format!("cannot be refused: {e}"));
                None
            }
        }
    }

    /// Moves an ingested file to `processed/` (or `rejected/`) with its
    /// receipt. Call once its events are durable. An error leaves the file
    /// in place; its events are durable, so the next sweep finds it a
    /// duplicate and tries again.
    pub fn file_away(&mut self, done: Ingested) -> Result<Receipt, SinkError> {
        let Ingested { candidate: c, receipt, reservation, .. } = done;
        let partner_dir = self.root.join(&c.partner);
        let io_err = |e: io::Error| SinkError::FileChanged(format!("{}/{}: {e}", c.partner, c.shown));
        let processed = partner_dir.join(PROCESSED);
        let accepted = matches!(receipt.status, Status::Accepted | Status::AcceptedWithRejections);
        if accepted {
            self.seen.insert(receipt.sha256.clone());
        }
        let dest_dir = partner_dir.join(if receipt.status == Status::Rejected { REJECTED } else { PROCESSED });
        // A name the receipt may not repeat is not kept either.
        let own = file_name(&c.path);
        let base = if c.shown == own { own } else { format!("withheld-{}.csv", &receipt_key(&c.path)[..12]) };
        let dest = unique(&dest_dir, &base);
        let dest_name = file_name(&dest);
        let quarantine = processed.join(format!(".vru-{}.rejected-rows.tmp", receipt.sha256.get(..16).unwrap_or("none")));
        if receipt.sha256.len() >= 16 && fs::symlink_metadata(&quarantine).is_ok_and(|m| m.file_type().is_file()) {
            let _ = fs::rename(&quarantine, unique(&processed, &format!("{dest_name}.rejected-rows.csv")));
        }
        if let Err(e) = reservation.fill(&receipt, &dest_dir.join(format!("{dest_name}.receipt.json"))) {
            return Err(io_err(e));
        }
        fs::rename(&c.path, &dest).map_err(io_err)?;
        self.reported.remove(&c.path);
        Ok(receipt)
    }
}

/// A file whose events are published, waiting to be filed away.
pub struct Ingested {
    pub candidate: Candidate,
    pub receipt: Receipt,
    /// Offsets that must reach the lake first (embedded broker only).
    pub awaiting: Option<Offsets>,
    reservation: Reservation,
}

impl Ingested {
    /// Gives up on filing this one away (its events did not become
    /// durable): the file stays where it is, to be read again.
    pub fn abandon(self) {
        self.reservation.release();
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A path for logs: the partner folder and the file's safe name.
fn display_path(p: &Path) -> String {
    let parent = p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{parent}/{}", display_name(&file_name(p)))
}

fn receipt_key(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(p.as_os_str().as_encoded_bytes()))
}

fn refusal_receipt(c: &Candidate, status: Status, sha256: String, reason: &str) -> Receipt {
    let now = Utc::now();
    let bytes = fs::symlink_metadata(&c.path).map(|m| m.len()).unwrap_or(0);
    Receipt::refused(c.shown.clone(), c.partner.clone(), bytes, extract_date(&c.shown, now), now, status, sha256, reason)
}

/// `dir/name`, or `dir/name.1`, `.2`... when taken (by anything, a link
/// included): a resent file must not overwrite the one it repeats.
pub(crate) fn unique(dir: &Path, name: &str) -> PathBuf {
    let taken = |p: &Path| fs::symlink_metadata(p).is_ok() || fs::symlink_metadata(format!("{}.receipt.json", p.display())).is_ok();
    let first = dir.join(name);
    if !taken(&first) {
        return first;
    }
    (1..).map(|i| dir.join(format!("{name}.{i}"))).find(|p| !taken(p)).expect("some name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_refused_names() {
        for n in ["offences.csv.TMP", "x.csv.filepart", ".hidden.csv", "~$offences.csv", "a.csv.crdownload", "a.csv.part", "a.csv~"] {
            assert!(is_temporary(n), "{n}");
        }
        assert!(!is_temporary("offences_2024-05-01.csv"));
        assert!(name_problem("offences.CSV").is_none() && name_problem("offences.csv.gz").is_none());
        assert!(name_problem("offences.xlsx").unwrap().contains(".csv"));
        assert!(name_problem(&format!("offences_{}.csv", "x".repeat(240))).unwrap().contains("bytes long"));
        assert!(name_problem("offences\n.csv").unwrap().contains("control"));
    }
}
