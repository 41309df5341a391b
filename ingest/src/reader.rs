//! Streams one partner extract row by row. Nothing is held but the current
//! record, so a 5 GB file costs the same memory as a 5 KB one; every
//! problem comes back as an [`Issue`] naming line, column and reason.

use crate::limits::{HashingReader, LimitedReader, Limits, LineBreaks, LineCounting};
use chrono::{DateTime, NaiveDate, Utc};
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use vru_model::classification::Catalogue;
use vru_model::extract::{ExtractKind, Header, Row};
use vru_model::identifiers::profile::FileProfile;
use vru_model::receipt::Issue;
use vru_model::sources::{self, Context};
use vru_model::{Event, FieldError};

/// What one record of the file turned out to be.
pub enum Outcome {
    /// A valid row, with the line it starts on.
    Event { event: Box<Event>, line: u64 },
    /// A bad row: the issue, whether it looks like a raw identifier, and the
    /// raw record (for the quarantine file).
    Rejected { issue: Issue, raw_identifier: bool, record: csv::ByteRecord },
    /// The file cannot be read further (I/O error, a line too long, a
    /// decompression bomb): the whole file must be rejected.
    Fatal(Issue),
}

/// Where a file stands after its header was read.
pub struct ExtractReader<'a> {
    csv: csv::Reader<Box<dyn Read + Send>>,
    header: Header,
    pub header_record: csv::ByteRecord,
    kind: ExtractKind,
    ctx: Context<'a>,
    today: NaiveDate,
    extract_date: NaiveDate,
    record: csv::ByteRecord,
    /// Column-level evidence (weak identifiers, month-first dates,
    /// scientific-notation ids), judged once the file is read.
    pub profile: FileProfile,
    hasher: std::sync::Arc<std::sync::Mutex<Sha256>>,
    lines: std::sync::Arc<std::sync::Mutex<LineBreaks>>,
    done: bool,
}

fn issue(line: u64, column: usize, column_name: &str, reason: impl Into<String>) -> Issue {
    Issue { line, column, column_name: column_name.into(), reason: reason.into() }
}

pub fn field_issue(line: u64, e: FieldError) -> Issue {
    Issue { line, column: e.column, column_name: e.column_name, reason: e.reason }
}

/// Opens a partner's file for reading without following a symbolic link and
/// without blocking on a FIFO someone swapped in after the scan: anything
/// but a regular file is an error.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

/// Opens the file, undoing gzip if present, behind the size limits.
pub(crate) fn open_stream(
    path: &Path,
    limits: &Limits,
    hasher: std::sync::Arc<std::sync::Mutex<Sha256>>,
) -> Result<Box<dyn Read + Send>, Issue> {
    let mut file = open_regular(path).map_err(|e| issue(0, 0, "", format!("cannot open: {e}")))?;
    let compressed_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 4];
    let n = file.read(&mut head).unwrap_or(0);
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).map_err(|e| issue(0, 0, "", format!("cannot read: {e}")))?;
    let hashed = HashingReader::new(BufReader::with_capacity(256 * 1024, file), hasher);
    if n >= 4 && head == *b"PK\x03\x04" {
        return Err(issue(0, 0, "", "zip archives are not accepted: send the CSV itself, or gzip it (.csv.gz)"));
    }
    let inner: Box<dyn Read + Send> = if n >= 2 && head[..2] == [0x1f, 0x8b] {
        let cap = limits.max_decompressed_bytes.min(compressed_len.saturating_mul(limits.max_compression_ratio).max(1 << 20));
        Box::new(LimitedReader::bytes(MultiGzDecoder::new(hashed), cap, "decompressed extract"))
    } else {
        Box::new(hashed)
    };
    Ok(Box::new(LimitedReader::lines(inner, limits.max_line_bytes)))
}

impl<'a> ExtractReader<'a> {
    /// Reads and checks the header. File-level problems come back as issues
    /// and mean the file is rejected whole.
    pub fn open(
        path: &Path,
        kind: ExtractKind,
        ctx: Context<'a>,
        limits: &Limits,
        (today, extract_date): (NaiveDate, NaiveDate),
    ) -> Result<Self, Vec<Issue>> {
        let hasher = std::sync::Arc::new(std::sync::Mutex::new(Sha256::new()));
        let stream = open_stream(path, limits, hasher.clone()).map_err(|i| vec![i])?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(LineBreaks::default()));
        let counted: Box<dyn Read + Send> = Box::new(LineCounting::new(stream, lines.clone()));
        let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(counted);
        let mut header_record = csv::ByteRecord::new();
        match csv.read_byte_record(&mut header_record) {
            Ok(true) => {}
            Ok(false) => return Err(vec![issue(1, 0, "", "the file is empty: an extract needs a header row")]),
            Err(e) => return Err(vec![csv_issue(1, &e, &lines)]),
        }
        let mut names = Vec::with_capacity(header_record.len());
        for (i, f) in header_record.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => names.push(s),
                Err(_) => return Err(vec![issue(1, i + 1, "", "header is not valid UTF-8: save the file as UTF-8 CSV")]),
            }
        }
        let header = Header::check(kind, &names).map_err(|errs| {
            let mut issues: Vec<Issue> = errs.into_iter().map(|e| field_issue(1, e)).collect();
            if names.len() == 1 && names[0].contains([';', '\t', '|']) {
                issues.insert(
                    0,
                    issue(1, 1, "", "the header has a single column that contains ';', tab or '|': extracts must be comma-separated"),
                );
            }
            issues
        })?;
        Ok(ExtractReader {
            csv,
            header,
            header_record: header_record.clone(),
            kind,
            ctx,
            today,
            extract_date,
            record: csv::ByteRecord::new(),
            profile: FileProfile::default(),
            hasher,
            lines,
            done: false,
        })
    }

    /// SHA-256 of every byte read so far (of the file as stored, before
    /// decompression); complete once the reader is exhausted.
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.lock().expect("hasher").clone().finalize())
    }

    /// Reads the rest of the file (so the hash covers it) without parsing.
    pub fn drain(&mut self) {
        while !self.done {
            match self.csv.read_byte_record(&mut self.record) {
                Ok(true) => {
                    self.line();
                }
                _ => self.done = true,
            };
        }
    }

    /// The declared type of each of the file's columns.
    pub fn column_types(&self) -> Vec<Option<vru_model::extract::FieldType>> {
        self.header.columns.iter().map(|c| c.map(|c| c.ty)).collect()
    }

    pub fn header_names(&self) -> Vec<String> {
        self.header_record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()
    }
}

fn csv_issue(line: u64, e: &csv::Error, lines: &std::sync::Mutex<LineBreaks>) -> Issue {
    let reason = match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => format!("cannot parse CSV: {e}"),
    };
    issue(e.position().map_or(line, |p| lines.lock().expect("line counter").line_of(p.byte())), 0, "", reason)
}

impl ExtractReader<'_> {
    /// The line the current record starts on (also lets the counter drop
    /// the breaks before it).
    fn line(&mut self) -> u64 {
        self.record.position().map_or(0, |p| self.lines.lock().expect("line counter").line_of(p.byte()))
    }
}

impl Iterator for ExtractReader<'_> {
    type Item = Outcome;

    fn next(&mut self) -> Option<Outcome> {
        if self.done {
            return None;
        }
        match self.csv.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Outcome::Fatal(csv_issue(0, &e, &self.lines)));
            }
            Ok(true) => {}
        }
        let line = self.line();
        let reject = |issue: Issue, raw_identifier: bool, record: &csv::ByteRecord| Outcome::Rejected {
            issue,
            raw_identifier,
            record: record.clone(),
        };
        if self.record.len() != self.header.width {
            let why = format!(
                "row has {} fields; the header has {} (a missing or extra delimiter, or a truncated line)",
                self.record.len(),
                self.header.width
            );
            return Some(reject(issue(line, 0, "", why), false, &self.record));
        }
        let mut fields = Vec::with_capacity(self.record.len());
        for (i, f) in self.record.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s),
                Err(e) => {
                    let name = String::from_utf8_lossy(&self.header_record[i]).into_owned();
                    // A person column holds a pseudonym or nothing: these
                    // bytes are not one, so the file is refused.
                    let person = matches!(self.header.columns.get(i), Some(Some(c)) if c.ty == vru_model::extract::FieldType::Pseudonym);
                    let why = format!("not valid UTF-8 (bad byte at offset {} of the field): save the file as UTF-8", e.valid_up_to());
                    return Some(reject(issue(line, i + 1, &name, why), person, &self.record));
                }
            }
        }
        let row = Row { header: &self.header, fields: &fields, line, today: self.today, extract_date: self.extract_date, kind: self.kind };
        // Identifiers first: a row holding one refuses the file, whatever
        // else is wrong with it.
        if let Err(e) = row.screen(&mut self.profile) {
            return Some(reject(field_issue(line, e), true, &self.record));
        }
        Some(match sources::parse(&self.ctx, &row) {
            Ok(event) => Outcome::Event { event: Box::new(event), line },
            Err(e) => {
                let raw = e.raw_identifier;
                reject(field_issue(line, e), raw, &self.record)
            }
        })
    }
}

/// The per-file facts the reader needs besides the bytes.
pub struct FileContext<'a> {
    pub partner: &'a str,
    pub extract_id: &'a str,
    pub ingested_at: DateTime<Utc>,
    pub catalogue: &'a Catalogue,
}

impl<'a> FileContext<'a> {
    pub fn context(&self) -> Context<'a> {
        Context::new(self.partner, self.extract_id, self.ingested_at, self.catalogue)
    }
}
