//! Files around the lake past their date: partners' raw extracts in
//! `processed/`, refused files in `rejected/`, quarantined rows
//! (`*.rejected-rows.csv`) and, much later, receipts. A raw file holding an
//! erased record goes whatever its age: the lake no longer has the record,
//! so neither may the landing folder.
//!
//! Only regular files directly inside `processed/` and `rejected/` are
//! touched, never through a link; our own in-flight reservations
//! (`.vru-*`) are left to ingest.

use super::RetentionError;
use crate::landing::{PROCESSED, REJECTED};
use crate::limits::Limits;
use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};
use vru_model::retention::{Period, policy::FilesPolicy};

/// What a sweep removed (or would remove, in a dry run), by kind.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Swept {
    pub processed: u64,
    pub rejected: u64,
    pub quarantine: u64,
    pub receipts: u64,
    /// Raw files removed because they held an erased record.
    pub erased_extracts: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.processed + self.rejected + self.quarantine + self.receipts + self.erased_extracts
    }
}

fn older_than(age: Duration, p: Period) -> bool {
    p.max_days().is_some_and(|d| {
        // A month is counted as 31 days here: files go a little later, never earlier.
        age >= Duration::from_secs(d * 86_400)
    })
}

fn age(now: SystemTime, meta: &fs::Metadata) -> Duration {
    meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default()
}

/// A record's key in a run's journal: SHA-256 of partner and record id,
/// so the journal can name what was erased without holding an id.
pub fn record_key(partner: &str, record_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update(b"\n");
    h.update(record_id.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a partner's raw file has a row whose record a run erased: a
/// row the lake dropped as a re-sent duplicate is in no extract the lake
/// names, but is still in the file. Unreadable files count as holding
/// one (kept raw data that cannot be checked is not kept).
fn holds_erased(path: &Path, partner: &str, erased: &HashSet<String>, limits: &Limits) -> bool {
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::default()));
    let Ok(stream) = crate::reader::open_stream(path, limits, hasher) else { return true };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(stream);
    let Ok(headers) = rdr.headers() else { return true };
    let Some(col) = headers.iter().position(|h| vru_model::extract::normalise_header(h) == "record_id") else {
        return false;
    };
    for row in rdr.records() {
        let Ok(row) = row else { return true };
        if row.get(col).is_some_and(|v| erased.contains(&record_key(partner, v.trim()))) {
            return true;
        }
    }
    false
}

fn is_quarantine(name: &str) -> bool {
    name.contains(".rejected-rows.csv")
}

/// The SHA-256 a receipt in `processed/` gives for its file.
fn receipt_sha(path: &Path) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sha256")?.as_str().map(str::to_string)
}

/// What a run erased, as the sweep needs it.
#[derive(Debug, Default, Clone)]
pub struct Erased {
    /// SHA-256 of extracts holding an event the run erased.
    pub extracts: HashSet<String>,
    /// [`record_key`] of every record the run erased.
    pub records: HashSet<String>,
}

/// Sweeps every partner's `processed/` and `rejected/`.
pub fn sweep(
    root: &Path,
    policy: &FilesPolicy,
    now: SystemTime,
    erased: &Erased,
    limits: &Limits,
    dry: bool,
) -> Result<Swept, RetentionError> {
    let erased_extracts = &erased.extracts;
    let mut out = Swept::default();
    let Ok(partners) = fs::read_dir(root) else { return Ok(out) };
    for partner in partners.flatten() {
        if !partner.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for (sub, raw_period) in [(PROCESSED, policy.processed), (REJECTED, policy.rejected)] {
            let dir = partner.path().join(sub);
            // Never through a link: a `processed` that is not a real folder is ingest's to report.
            if !fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_dir()) {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            let entries: Vec<_> = entries.flatten().collect();
            let partner_name = partner.file_name().to_string_lossy().into_owned();
            // Raw files whose receipt names an erased extract.
            let mut erased_files: HashSet<String> = HashSet::new();
            if !erased_extracts.is_empty() {
                for e in &entries {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(file) = name.strip_suffix(".receipt.json")
                        && receipt_sha(&e.path()).is_some_and(|s| erased_extracts.contains(&s))
                    {
                        erased_files.insert(file.to_string());
                    }
                }
            }
            for e in &entries {
                let name = e.file_name().to_string_lossy().into_owned();
                let Ok(meta) = fs::symlink_metadata(e.path()) else { continue };
                if !meta.file_type().is_file() || name.starts_with(".vru-") {
                    continue;
                }
                let a = age(now, &meta);
                let counter = if name.ends_with(".receipt.json") {
                    older_than(a, policy.receipts).then_some(&mut out.receipts)
                } else if is_quarantine(&name) {
                    let of_erased = erased_files.iter().any(|f| name.starts_with(&format!("{f}.rejected-rows.csv")));
                    if of_erased { Some(&mut out.erased_extracts) } else { older_than(a, policy.quarantine).then_some(&mut out.quarantine) }
                } else if erased_files.contains(&name) {
                    Some(&mut out.erased_extracts)
                } else if sub == PROCESSED && !erased.records.is_empty() && holds_erased(&e.path(), &partner_name, &erased.records, limits)
                {
                    erased_files.insert(name.clone());
                    Some(&mut out.erased_extracts)
                } else {
                    let c = if sub == PROCESSED { &mut out.processed } else { &mut out.rejected };
                    older_than(a, raw_period).then_some(c)
                };
                let Some(counter) = counter else { continue };
                if !dry {
                    match fs::remove_file(e.path()) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(source) => {
                            return Err(RetentionError::Io {
                                path: format!("{}/{sub}/{}", partner.file_name().to_string_lossy(), crate::extract::display_name(&name)),
                                source,
                            });
                        }
                    }
                }
                *counter += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_age(p: &Path, days: u64) {
        let t = SystemTime::now() - Duration::from_secs(days * 86_400 + 60);
        fs::File::options().write(true).open(p).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn removes_what_is_past_its_date_and_what_held_erased_records() {
        let d = tempfile::tempdir().unwrap();
        let proc = d.path().join("police-n/processed");
        let rej = d.path().join("police-n/rejected");
        fs::create_dir_all(&proc).unwrap();
        fs::create_dir_all(&rej).unwrap();
        let w = |dir: &Path, name: &str, body: &str, days: u64| {
            let p = dir.join(name);
            fs::write(&p, body).unwrap();
            set_age(&p, days);
        };
        w(&proc, "old_2026-01-01.csv", "x", 40);
        w(&proc, "old_2026-01-01.csv.receipt.json", r#"{"sha256":"aaa"}"#, 40);
        w(&proc, "old_2026-01-01.csv.rejected-rows.csv", "x", 40);
        w(&proc, "new.csv", "x", 2);
        w(&proc, "new.csv.receipt.json", r#"{"sha256":"bbb"}"#, 2);
        w(&proc, "new.csv.rejected-rows.csv", "x", 2);
        w(&proc, "keep.csv", "x", 2);
        w(&proc, "keep.csv.receipt.json", r#"{"sha256":"ccc"}"#, 2);
        w(&rej, "refused.csv", "x", 20);
        w(&rej, "refused.csv.receipt.json", "{}", 20);
        w(&proc, ".vru-0123.receipt.tmp", "", 99);
        let policy = vru_model::retention::Policy::builtin("default").unwrap().files;
        let erased = Erased { extracts: ["bbb".to_string()].into(), records: HashSet::new() };
        let limits = Limits::default();
        let dry = sweep(d.path(), &policy, SystemTime::now(), &erased, &limits, true).unwrap();
        assert_eq!(dry, Swept { processed: 1, rejected: 1, quarantine: 1, receipts: 0, erased_extracts: 2 });
        assert!(proc.join("new.csv").exists(), "a dry run removes nothing");
        let done = sweep(d.path(), &policy, SystemTime::now(), &erased, &limits, false).unwrap();
        assert_eq!(done, dry);
        let mut left: Vec<String> = fs::read_dir(&proc).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(
            left,
            [".vru-0123.receipt.tmp", "keep.csv", "keep.csv.receipt.json", "new.csv.receipt.json", "old_2026-01-01.csv.receipt.json"]
        );
        assert_eq!(sweep(d.path(), &policy, SystemTime::now(), &erased, &limits, false).unwrap().total(), 0, "idempotent");
        // A re-sent copy of an erased record, in a file the lake names nowhere.
        w(&proc, "resent.csv", "record_id,x\nr9,1\n", 1);
        w(&proc, "other.csv", "record_id,x\nr8,1\n", 1);
        let erased = Erased { extracts: HashSet::new(), records: [record_key("police-n", "r9")].into() };
        assert_eq!(sweep(d.path(), &policy, SystemTime::now(), &erased, &limits, false).unwrap().erased_extracts, 1);
        assert!(!proc.join("resent.csv").exists() && proc.join("other.csv").exists());
    }
}
