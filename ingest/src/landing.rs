//! The landing folder partners drop extracts into: one sub-folder per
//! partner (`police-northshire/`), each file processed once, then moved to
//! the partner's `processed/` or `rejected/` with its receipt beside it.
//!
//! Partners should write a file under a temporary name (`*.tmp`, `*.part`
//! or a leading dot) and rename it when complete; files are also left alone
//! until they have not changed for the settle time.

use crate::extract::{ExtractJob, ExtractRules, file_sha256};
use crate::sink::{EventSink, Offsets, SinkError};
use chrono::Utc;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use vru_model::classification::Catalogue;
use vru_model::receipt::{Receipt, Status};

pub const PROCESSED: &str = "processed";
pub const REJECTED: &str = "rejected";

#[derive(Debug, Clone)]
pub struct Candidate {
    pub partner: String,
    pub path: PathBuf,
}

pub struct Landing {
    root: PathBuf,
    settle: Duration,
    /// SHA-256 of every file already accepted, so a file dropped twice is
    /// recognised rather than published again.
    seen: HashSet<String>,
}

fn is_temporary(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part") || name.ends_with(".receipt.json")
}

impl Landing {
    pub fn open(root: impl Into<PathBuf>, settle: Duration) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        let mut seen = HashSet::new();
        for partner in fs::read_dir(&root)? {
            let dir = partner?.path().join(PROCESSED);
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.to_string_lossy().ends_with(".receipt.json")
                    && let Ok(text) = fs::read_to_string(&p)
                    && let Ok(r) = serde_json::from_str::<Receipt>(&text)
                    && matches!(r.status, Status::Accepted | Status::AcceptedWithRejections)
                {
                    seen.insert(r.sha256);
                }
            }
        }
        Ok(Landing { root, settle, seen })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Files ready to ingest, partner by partner, in name order (extract
    /// dates in names make that the order they were taken).
    pub fn scan(&self) -> io::Result<Vec<Candidate>> {
        Ok(self.scan_settling()?.0)
    }

    /// [`scan`](Self::scan), plus how many files are still settling (changed
    /// within the settle time): a one-off sweep waits for those rather than
    /// leaving a freshly copied file behind.
    pub fn scan_settling(&self) -> io::Result<(Vec<Candidate>, usize)> {
        let mut out = Vec::new();
        let mut settling = 0;
        let now = SystemTime::now();
        let mut partners: Vec<_> = fs::read_dir(&self.root)?.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).collect();
        partners.sort_by_key(|e| e.file_name());
        for partner in partners {
            let pname = partner.file_name().to_string_lossy().into_owned();
            if pname.starts_with('.') {
                continue;
            }
            let mut files: Vec<_> = fs::read_dir(partner.path())?.flatten().collect();
            files.sort_by_key(|e| e.file_name());
            for f in files {
                let name = f.file_name().to_string_lossy().into_owned();
                let Ok(ft) = f.file_type() else { continue };
                if ft.is_symlink() {
                    tracing::warn!(file = %f.path().display(), "symbolic links are not followed in the landing folder");
                    continue;
                }
                if !ft.is_file() || is_temporary(&name) {
                    continue;
                }
                let settled =
                    f.metadata().and_then(|m| m.modified()).is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= self.settle);
                if settled {
                    out.push(Candidate { partner: pname.clone(), path: f.path() });
                } else {
                    settling += 1;
                }
            }
        }
        Ok((out, settling))
    }

    /// Publishes one file (or recognises it as a duplicate) without moving
    /// it: it stays in place until [`file_away`](Self::file_away), so a crash
    /// before its events are durable means it is read again.
    pub fn ingest(
        &mut self,
        c: &Candidate,
        sink: &mut dyn EventSink,
        catalogue: &Catalogue,
        rules: &ExtractRules,
    ) -> Result<Ingested, SinkError> {
        let name = file_name(&c.path);
        let processed = self.root.join(&c.partner).join(PROCESSED);
        let io_err = |e: io::Error| SinkError::FileChanged(format!("{}: {e}", c.path.display()));
        fs::create_dir_all(&processed).map_err(io_err)?;
        let hash = file_sha256(&c.path).map_err(io_err)?;
        if self.seen.contains(&hash) {
            return Ok(Ingested { candidate: c.clone(), receipt: duplicate_receipt(c, &name, hash), awaiting: None });
        }
        let quarantine = processed.join(format!("{name}.rejected-rows.csv.tmp"));
        let job =
            ExtractJob { path: &c.path, partner: &c.partner, catalogue, rules, now: Utc::now(), quarantine: Some(&quarantine), kind: None };
        match job.run_unsettled(sink) {
            Ok((receipt, awaiting)) => Ok(Ingested { candidate: c.clone(), receipt, awaiting }),
            Err(e) => {
                let _ = fs::remove_file(&quarantine);
                Err(e)
            }
        }
    }

    /// Moves an ingested file to `processed/` (or `rejected/`) with its
    /// receipt. Call once its events are durable.
    pub fn file_away(&mut self, done: Ingested) -> Result<Receipt, SinkError> {
        let Ingested { candidate: c, receipt, .. } = done;
        let name = file_name(&c.path);
        let partner_dir = self.root.join(&c.partner);
        let io_err = |e: io::Error| SinkError::FileChanged(format!("{}: {e}", c.path.display()));
        let quarantine = partner_dir.join(PROCESSED).join(format!("{name}.rejected-rows.csv.tmp"));
        if quarantine.exists() {
            fs::rename(&quarantine, unique(&partner_dir.join(PROCESSED), &format!("{name}.rejected-rows.csv"))).map_err(io_err)?;
        }
        let dest_dir = partner_dir.join(if receipt.status == Status::Rejected { REJECTED } else { PROCESSED });
        fs::create_dir_all(&dest_dir).map_err(io_err)?;
        let dest = unique(&dest_dir, &name);
        let receipt_path = dest.with_file_name(format!("{}.receipt.json", file_name(&dest)));
        let tmp = receipt_path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&receipt).expect("receipt serialises")).map_err(io_err)?;
        fs::rename(&tmp, &receipt_path).map_err(io_err)?;
        fs::rename(&c.path, &dest).map_err(io_err)?;
        if matches!(receipt.status, Status::Accepted | Status::AcceptedWithRejections) {
            self.seen.insert(receipt.sha256.clone());
        }
        Ok(receipt)
    }
}

/// A file whose events are published, waiting to be filed away.
pub struct Ingested {
    pub candidate: Candidate,
    pub receipt: Receipt,
    /// Offsets that must reach the lake first (embedded broker only).
    pub awaiting: Option<Offsets>,
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn duplicate_receipt(c: &Candidate, name: &str, sha256: String) -> Receipt {
    let now = Utc::now();
    Receipt {
        file: name.to_string(),
        partner: c.partner.clone(),
        extract_kind: None,
        sha256,
        bytes: fs::metadata(&c.path).map(|m| m.len()).unwrap_or(0),
        extract_date: crate::extract::extract_date(name, now),
        started_at: now,
        finished_at: now,
        status: Status::Duplicate,
        rows_read: 0,
        rows_published: 0,
        rows_rejected: 0,
        rows_duplicate: 0,
        issues: vec![vru_model::receipt::Issue {
            line: 0,
            column: 0,
            column_name: String::new(),
            reason: "the same file (same SHA-256) was ingested before; nothing was published again".into(),
        }],
        issues_total: 1,
        confirmed_by: String::new(),
    }
}

/// `dir/name`, or `dir/name.1`, `.2`... when taken: a resent file must not
/// overwrite the one it repeats.
fn unique(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    (1..).map(|i| dir.join(format!("{name}.{i}"))).find(|p| !p.exists()).expect("some name is free")
}
