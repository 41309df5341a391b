//! Partner withdrawals (erasure and rectification). A partner drops
//! `withdrawals_<date>.csv` into its landing folder with one column:
//! `record_id` (those records, every version, are erased) or
//! `extract_sha256` (every event that came from that extract, by the
//! SHA-256 its receipt gave). The next retention run erases them through
//! the same two stages as expired records, writes a receipt beside where
//! the file was, and deletes the file itself (it lists record ids).
//!
//! The landing folder's rules hold: the file is looked at without
//! following links, its name must be safe to show, it is applied whole or
//! refused whole (moved to `rejected/` with a receipt saying why), and no
//! receipt or log repeats a value from it. A partner can only withdraw
//! its own records: matching is on its folder's name, and an extract hash
//! must be one the lake holds a receipt for from that partner.

use super::RetentionError;
use crate::extract::display_name;
use crate::landing::{PROCESSED, REJECTED, is_withdrawal, name_problem, real_dir, unique};
use crate::limits::Limits;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use vru_model::identifiers::{Place, scan};
use vru_model::receipt::Issue;

/// Most lines one withdrawal file may list.
pub const MAX_LINES: usize = 1_000_000;
/// Line numbers of unmatched ids listed in a receipt, at most.
const MAX_LINES_LISTED: usize = 1000;

/// What a partner asked for.
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// (line, record id)
    pub record_ids: Vec<(u64, String)>,
    /// (line, extract SHA-256, lower case)
    pub extracts: Vec<(u64, String)>,
}

/// The receipt written beside where the file was: counts and line
/// numbers, never a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WithdrawalReceipt {
    pub file: String,
    pub partner: String,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    /// `erased`, `rejected`, or `planned` (a dry run: nothing done).
    pub status: String,
    pub record_ids_listed: u64,
    pub extracts_listed: u64,
    pub records_found: u64,
    pub events_erased: u64,
    /// Of the records found, those a hold protected from expiry: a
    /// partner's withdrawal overrides a hold, and the hold's owner should know.
    pub records_under_hold: u64,
    pub not_found: u64,
    pub not_found_lines: Vec<u64>,
    /// The retention run that erased them.
    pub run: String,
    pub issues: Vec<Issue>,
}

/// A withdrawal file found in a partner's folder.
#[derive(Debug, Clone)]
pub struct Found {
    pub partner: String,
    pub path: PathBuf,
    pub shown: String,
    pub received_at: DateTime<Utc>,
    /// Why it is refused without reading, if it is.
    pub problem: Option<String>,
}

/// Withdrawal files in every partner folder, by partner and name.
pub fn scan_landing(root: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    let Ok(partners) = fs::read_dir(root) else { return out };
    let mut partners: Vec<_> = partners.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).collect();
    partners.sort_by_key(|e| e.file_name());
    for p in partners {
        let Some(partner) = p.file_name().to_str().map(str::to_string) else { continue };
        if partner.starts_with('.') {
            continue;
        }
        let Ok(files) = fs::read_dir(p.path()) else { continue };
        let mut files: Vec<_> = files.flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let Some(name) = f.file_name().to_str().map(str::to_string) else { continue };
            if !is_withdrawal(&name) {
                continue;
            }
            let path = f.path();
            let Ok(meta) = fs::symlink_metadata(&path) else { continue };
            if meta.file_type().is_dir() {
                continue;
            }
            let shown = display_name(&name);
            let problem = if meta.file_type().is_symlink() {
                Some("symbolic links are not followed in the landing folder: copy the file itself".to_string())
            } else if !meta.file_type().is_file() {
                Some("not a regular file (a pipe, socket or device): only files are read".to_string())
            } else if shown != name {
                Some("the file name cannot be shown safely: rename it withdrawals_<date>.csv".to_string())
            } else {
                name_problem(&name)
            };
            let received_at = meta.modified().map(DateTime::<Utc>::from).unwrap_or_else(|_| Utc::now());
            out.push(Found { partner: partner.clone(), path, shown, received_at, problem });
        }
    }
    out
}

fn issue(line: u64, reason: impl Into<String>) -> Issue {
    Issue { line, column: if line > 1 { 1 } else { 0 }, column_name: String::new(), reason: reason.into() }
}

/// Records the byte offsets of every `\n` and `\r` read through it.
struct Newlines<R> {
    inner: R,
    seen: u64,
    at: std::sync::Arc<std::sync::Mutex<(Vec<u64>, Vec<u64>)>>,
}

impl<R: std::io::Read> std::io::Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut at = self.at.lock().expect("newlines");
        for (i, b) in buf[..n].iter().enumerate() {
            match b {
                b'\n' => at.0.push(self.seen + i as u64),
                b'\r' => at.1.push(self.seen + i as u64),
                _ => {}
            }
        }
        self.seen += n as u64;
        Ok(n)
    }
}

/// Reads a withdrawal file whole, with its SHA-256. Any bad line refuses
/// the file: a withdrawal is applied exactly as written or not at all.
pub fn read(path: &Path, limits: &Limits) -> Result<(Request, String), Vec<Issue>> {
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(Sha256::new()));
    let stream = crate::reader::open_stream(path, limits, hasher.clone()).map_err(|i| vec![i])?;
    // The CSV reader skips blank lines without counting them: line numbers
    // come from where each record starts, against the newlines seen.
    let newlines = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let stream = Newlines { inner: stream, seen: 0, at: newlines.clone() };
    // A record's position is where the reader began on it, blank lines
    // before it included: skip line-break bytes to where it really starts.
    let line_of = |mut byte: u64| {
        let (nl, cr) = &*newlines.lock().expect("newlines");
        while nl.binary_search(&byte).is_ok() || cr.binary_search(&byte).is_ok() {
            byte += 1;
        }
        nl.partition_point(|&n| n < byte) as u64 + 1
    };
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(stream);
    let mut rec = csv::StringRecord::new();
    let header = match csv.read_record(&mut rec) {
        Ok(true) => rec.iter().map(vru_model::extract::normalise_header).collect::<Vec<_>>(),
        Ok(false) => {
            return Err(vec![issue(1, "the file is empty: a withdrawal has a header, record_id or extract_sha256, then one value a line")]);
        }
        Err(_) => return Err(vec![issue(1, "the header is not readable UTF-8 CSV")]),
    };
    let by_extract = match header.as_slice() {
        [h] if h == "record_id" => false,
        [h] if h == "extract_sha256" => true,
        _ => return Err(vec![issue(1, "a withdrawal file has one column, named record_id or extract_sha256")]),
    };
    let mut req = Request::default();
    let mut issues = Vec::new();
    let mut lines = 0usize;
    loop {
        match csv.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                issues.push(issue(line, "this line is not readable UTF-8 CSV"));
                break;
            }
        }
        let line = rec.position().map_or(0, |p| line_of(p.byte()));
        lines += 1;
        if lines > MAX_LINES {
            return Err(vec![issue(line, format!("more than {MAX_LINES} lines: split the withdrawal into several files"))]);
        }
        if rec.len() > 1 && rec.iter().skip(1).any(|f| !f.trim().is_empty()) {
            issues.push(issue(line, "more than one value on the line: one record id or extract hash a line"));
            continue;
        }
        let v = rec.get(0).unwrap_or("").trim();
        if v.is_empty() {
            continue;
        }
        if by_extract {
            if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                req.extracts.push((line, v.to_ascii_lowercase()));
            } else {
                issues.push(issue(line, "not a SHA-256 (64 hex digits, as the extract's receipt gives it)"));
            }
            continue;
        }
        if let Some(f) = scan(v, Place::Id).strong {
            issues.push(issue(line, format!("holds {}: a withdrawal lists your record ids, never identifiers", f.mask())));
        } else if v.len() > 200 || v.chars().any(char::is_control) {
            issues.push(issue(line, "not a record id (over 200 bytes, or control characters)"));
        } else {
            req.record_ids.push((line, v.to_string()));
        }
    }
    if !issues.is_empty() {
        issues.truncate(MAX_LINES_LISTED);
        return Err(issues);
    }
    let sha = hex::encode(hasher.lock().expect("hasher").clone().finalize());
    Ok((req, sha))
}

/// SHA-256 of a file (to find a journal's withdrawal file again on resume).
pub fn sha256_of(path: &Path) -> Option<String> {
    crate::extract::file_sha256(path).ok()
}

impl WithdrawalReceipt {
    pub fn new(f: &Found, sha256: String, status: &str) -> Self {
        WithdrawalReceipt {
            file: f.shown.clone(),
            partner: f.partner.clone(),
            sha256,
            received_at: f.received_at,
            status: status.to_string(),
            record_ids_listed: 0,
            extracts_listed: 0,
            records_found: 0,
            events_erased: 0,
            records_under_hold: 0,
            not_found: 0,
            not_found_lines: Vec::new(),
            run: String::new(),
            issues: Vec::new(),
        }
    }

    /// Records unmatched lines (by line number only).
    pub fn set_not_found(&mut self, lines: &BTreeSet<u64>) {
        self.not_found = lines.len() as u64;
        self.not_found_lines = lines.iter().copied().take(MAX_LINES_LISTED).collect();
    }
}

fn write_receipt(dir: &Path, name: &str, r: &WithdrawalReceipt) -> Result<(), RetentionError> {
    let io = |source| RetentionError::Io { path: format!("{}/{name}", r.partner), source };
    real_dir(dir).map_err(io)?;
    let dest = dir.join(format!("{name}.receipt.json"));
    let tmp = dir.join(format!(".vru-{}.receipt.tmp", &r.sha256.get(..16).unwrap_or("withdrawal")));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io)?;
    f.write_all(&serde_json::to_vec_pretty(r).expect("receipt serialises")).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, &dest).map_err(io)
}

/// Refuses a withdrawal file: moved to `rejected/` with its receipt.
pub fn refuse(root: &Path, f: &Found, receipt: &WithdrawalReceipt) -> Result<(), RetentionError> {
    let rejected = root.join(&f.partner).join(REJECTED);
    let name = if f.problem.is_some() && f.shown != file_name(&f.path) { "withdrawals-withheld.csv".to_string() } else { f.shown.clone() };
    let dest = unique(&rejected, &name);
    let dest_name = file_name(&dest);
    write_receipt(&rejected, &dest_name, receipt)?;
    fs::rename(&f.path, &dest).map_err(|source| RetentionError::Io { path: format!("{}/{}", f.partner, f.shown), source })
}

/// Completes an applied withdrawal: the receipt in `processed/`, then the
/// file itself deleted (it lists record ids). Safe to repeat.
pub fn complete(root: &Path, receipt: &WithdrawalReceipt, path: Option<&Path>) -> Result<(), RetentionError> {
    let processed = root.join(&receipt.partner).join(PROCESSED);
    let receipt_path = processed.join(format!("{}.receipt.json", receipt.file));
    let already = fs::read(&receipt_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<WithdrawalReceipt>(&b).ok())
        .is_some_and(|r| r.sha256 == receipt.sha256);
    if !already {
        let name = file_name(&unique(&processed, &receipt.file));
        write_receipt(&processed, &name, receipt)?;
    }
    if let Some(p) = path {
        match fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(RetentionError::Io { path: format!("{}/{}", receipt.partner, receipt.file), source }),
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("withdrawals_2026-11-01.csv");
        fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_ids_or_hashes_and_refuses_identifiers_without_echoing_them() {
        let (_d, p) = file("record_id\nr1\n\n r2 \n");
        let (req, sha) = read(&p, &Limits::default()).unwrap();
        assert_eq!(req.record_ids, vec![(2, "r1".to_string()), (4, "r2".to_string())]);
        assert_eq!(sha.len(), 64);
        let (_d, p) = file(&format!("\u{feff}Extract_SHA256\n{}\n", "AB".repeat(32)));
        assert_eq!(read(&p, &Limits::default()).unwrap().0.extracts, vec![(2, "ab".repeat(32))]);
        let (_d, p) = file("record_id\nr1\n943 476 5919\nSW1A 1AA\n");
        let issues = read(&p, &Limits::default()).unwrap_err();
        let text = format!("{issues:?}");
        assert_eq!(issues.len(), 2);
        assert!(text.contains("[NHS number]") && text.contains("[postcode]"), "{text}");
        assert!(!text.contains("5919") && !text.contains("1AA"), "never echoed: {text}");
        let (_d, p) = file("record_id,name\nr1,x\n");
        assert!(read(&p, &Limits::default()).unwrap_err()[0].reason.contains("one column"));
        let (_d, p) = file("extract_sha256\nabc\n");
        assert!(read(&p, &Limits::default()).unwrap_err()[0].reason.contains("SHA-256"));
    }

    #[test]
    fn names() {
        assert!(is_withdrawal("withdrawals_2026-11-01.csv") && is_withdrawal("Withdrawals_x.csv.gz"));
        assert!(!is_withdrawal("withdrawals_2026-11-01.csv.part") && !is_withdrawal("offences_2026.csv"));
    }
}
