//! Ingests one extract file: a validation pass that decides whether the
//! file is accepted at all, then a publishing pass that sends its valid
//! rows, then the receipt. Two passes cost a second read of the file; in
//! exchange nothing is published from a file that turns out, on its last
//! line, to carry raw identifiers.

use crate::limits::Limits;
use crate::quarantine::Quarantine;
use crate::reader::{ExtractReader, FileContext, Outcome};
use crate::sink::{Confirmation, EventSink, Offsets, SinkError};
use crate::tracker::{self, RecordTracker, Seen};
use chrono::{DateTime, NaiveDate, Utc};
use std::path::Path;
use vru_model::Event;
use vru_model::classification::Catalogue;
use vru_model::event::{Attributes, Envelope, ExtractReceipt, Kind, Source};
use vru_model::extract::{ExtractKind, normalise_header};
use vru_model::identifiers::{self, shown};
use vru_model::ids::EventId;
use vru_model::receipt::{Issue, Receipt, Status};
use vru_model::sources::police_uk::PUBLIC_PARTNER;
use vru_model::tables::Table;

/// How long a file may wait for its events to reach the lake.
pub const LAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The rule for partly bad files, applied to every file alike.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractRules {
    /// Above this share of bad rows the whole file is rejected: so many
    /// errors mean a systematic fault (wrong date format, shifted columns)
    /// that the partner should fix at source.
    pub max_rejected_fraction: f64,
    /// Duplicate and conflict detection keeps 16 bytes per row (a hash of
    /// its id, its content and line); beyond this many rows it stops (the
    /// normaliser still drops duplicates by event id) so memory stays
    /// bounded on multi-gigabyte files. 3.5M rows fill a table of 4M
    /// slots (~70 MB); 4M would double it to 8M slots.
    pub max_tracked_rows: usize,
    pub limits: Limits,
}

impl Default for ExtractRules {
    fn default() -> Self {
        ExtractRules { max_rejected_fraction: 0.1, max_tracked_rows: 3_500_000, limits: Limits::default() }
    }
}

/// The extract date written in the file name (`offences_2024-05-15.csv`),
/// else the day it arrived.
pub fn extract_date(file_name: &str, arrived: DateTime<Utc>) -> NaiveDate {
    let b = file_name.as_bytes();
    (0..b.len().saturating_sub(9))
        .filter_map(|i| std::str::from_utf8(&b[i..i + 10]).ok())
        .find_map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .unwrap_or_else(|| arrived.date_naive())
}

/// What the lake already holds, so a file can be checked against it: a
/// record re-sent with the same id and version but other content is a
/// conflict (the partner must bump the version), and one re-sent unchanged
/// is not published again.
pub trait KnownEvents {
    /// Calls `f` with `(tracker::id_key, tracker::content32)` of every
    /// event of `partner` in `table`. An error means the lake cannot be read
    /// now: the file is left for the next sweep.
    fn for_each(&self, table: Table, partner: &str, f: &mut dyn FnMut(u64, u32)) -> Result<(), String>;

    /// A file's records were published: `(tracker::id_key, content32)` of
    /// each. An implementation that answers [`KnownEvents::for_each`] from
    /// the lake alone would not know them until the normaliser commits, so
    /// the next extract's check would depend on timing (see `LakeKnown`).
    fn published(&self, _table: Table, _partner: &str, _records: &mut dyn Iterator<Item = (u64, u32)>) {}
}

/// No lake to ask (files checked on their own).
pub struct NothingKnown;

impl KnownEvents for NothingKnown {
    fn for_each(&self, _: Table, _: &str, _: &mut dyn FnMut(u64, u32)) -> Result<(), String> {
        Ok(())
    }
}

pub struct ExtractJob<'a> {
    pub path: &'a Path,
    /// The partner as its folder (or `--partner`) names it.
    pub partner: &'a str,
    pub catalogue: &'a Catalogue,
    pub rules: &'a ExtractRules,
    pub now: DateTime<Utc>,
    /// Where bad rows are copied, for the partner to correct and resend.
    pub quarantine: Option<&'a Path>,
    /// The extract kind when it is not named by the file (`--format police-uk`).
    pub kind: Option<ExtractKind>,
    pub known: &'a dyn KnownEvents,
    /// How the file is named in the receipt, when its own name is unsafe
    /// to repeat.
    pub display_name: Option<&'a str>,
}

fn file_issue(reason: impl Into<String>) -> Issue {
    Issue { line: 0, column: 0, column_name: String::new(), reason: reason.into() }
}

/// The partner name events carry: the folder's, except for public data,
/// which is one partner whichever route it came by.
pub fn event_partner(partner: &str, kind: ExtractKind) -> &str {
    if kind.source() == Source::PoliceUk { PUBLIC_PARTNER } else { partner }
}

impl<'a> ExtractJob<'a> {
    pub fn new(path: &'a Path, partner: &'a str, catalogue: &'a Catalogue, rules: &'a ExtractRules, now: DateTime<Utc>) -> Self {
        ExtractJob { path, partner, catalogue, rules, now, quarantine: None, kind: None, known: &NothingKnown, display_name: None }
    }

    pub fn quarantine(mut self, path: &'a Path) -> Self {
        self.quarantine = Some(path);
        self
    }

    pub fn kind(mut self, kind: Option<ExtractKind>) -> Self {
        self.kind = kind;
        self
    }

    pub fn known(mut self, known: &'a dyn KnownEvents) -> Self {
        self.known = known;
        self
    }

    /// The file's own name: what its kind and date are read from.
    fn own_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The name receipts and logs show.
    fn file_name(&self) -> String {
        if let Some(d) = self.display_name {
            return d.to_string();
        }
        display_name(&self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    }

    fn receipt(&self, kind: Option<ExtractKind>) -> Receipt {
        let bytes = std::fs::symlink_metadata(self.path).map(|m| m.len()).unwrap_or(0);
        let partner = kind.map_or(self.partner, |k| event_partner(self.partner, k));
        Receipt::start(
            self.file_name(),
            partner.to_string(),
            kind.map(|k| k.prefix().to_string()),
            bytes,
            extract_date(&self.own_name(), self.now),
            self.now,
        )
    }

    /// Validates, then publishes through `sink` and waits until its events
    /// are durable. Returns the receipt; an error means the sink could not
    /// confirm and the file must be tried again later (its event ids make
    /// that safe).
    pub fn run(&self, sink: &mut dyn EventSink) -> Result<Receipt, SinkError> {
        let (receipt, awaiting) = self.run_unsettled(sink)?;
        if let Some(offsets) = awaiting {
            sink.wait_durable(&offsets, LAKE_TIMEOUT)?;
        }
        Ok(receipt)
    }

    /// As [`run`](Self::run), but returns as soon as the broker has
    /// acknowledged, with the offsets still to reach the lake (if the sink
    /// confirms by lake), so the caller can go on with the next file.
    pub fn run_unsettled(&self, sink: &mut dyn EventSink) -> Result<(Receipt, Option<Offsets>), SinkError> {
        let mut receipt = self.receipt(None);
        let kind = match self
            .kind
            .map(Ok)
            .unwrap_or_else(|| Source::of_partner(self.partner).and_then(|s| ExtractKind::from_file_name(s, &self.own_name())))
        {
            Ok(k) => k,
            Err(reason) => return Ok((self.reject(receipt, vec![file_issue(reason)]), None)),
        };
        let partner = event_partner(self.partner, kind);
        receipt.partner = partner.to_string();
        receipt.extract_kind = Some(kind.prefix().to_string());
        let dates = (self.now.date_naive(), receipt.extract_date.min(self.now.date_naive()));
        // Pass 1: validate everything, publish nothing.
        let hash_placeholder = "0".repeat(64);
        let fctx = FileContext { partner, extract_id: &hash_placeholder, ingested_at: self.now, catalogue: self.catalogue };
        let mut reader = match ExtractReader::open(self.path, kind, fctx.context(), &self.rules.limits, dates) {
            Ok(r) => r,
            Err(issues) => return Ok((self.reject(receipt, issues), None)),
        };
        let mut issues = Vec::new();
        let mut raw_identifier = false;
        let mut fatal = None;
        let mut records = RecordTracker::new(self.rules.max_tracked_rows);
        let mut conflicts = Vec::new();
        for outcome in reader.by_ref() {
            receipt.rows_read += 1;
            match outcome {
                Outcome::Event { event, line } => {
                    match records.observe(tracker::key(&event), tracker::content32(event.envelope.content_hash.as_deref()), line) {
                        Seen::New => {}
                        Seen::Duplicate => receipt.rows_duplicate += 1,
                        Seen::Conflict { first_line } => conflicts.push(Issue {
                            line,
                            column: 0,
                            column_name: String::new(),
                            reason: format!(
                                "record `{}` version {} is also on line {first_line} with different content: a conflict, not a duplicate. Keep one row per record and version; send a correction with a higher record_version",
                                shown(&event.envelope.record_id),
                                event.envelope.record_version
                            ),
                        }),
                    }
                }
                Outcome::Rejected { issue, raw_identifier: raw, .. } => {
                    raw_identifier |= raw;
                    receipt.rows_rejected += 1;
                    issues.push(issue);
                }
                Outcome::Fatal(issue) => {
                    receipt.rows_read -= 1;
                    fatal = Some(issue);
                }
            }
        }
        receipt.sha256 = reader.sha256();
        let verdicts = reader.profile.verdicts();
        let names = reader.header_names();
        drop(reader);
        if let Some(f) = fatal {
            issues.insert(0, f);
            return Ok((self.reject(receipt, issues), None));
        }
        let mut systematic = Vec::new();
        for v in verdicts {
            raw_identifier |= v.raw_identifier;
            let column_name = names.get(v.column).map(|n| normalise_header(n)).unwrap_or_default();
            systematic.push(Issue { line: v.line, column: v.column + 1, column_name, reason: v.reason });
        }
        if raw_identifier {
            issues.splice(0..0, systematic);
            issues.insert(0, file_issue("the file carries raw identifiers and was refused whole; nothing from it was published"));
            return Ok((self.reject(receipt, issues), None));
        }
        if !systematic.is_empty() || !conflicts.is_empty() {
            let why = if conflicts.is_empty() {
                "the file has a systematic fault and was refused whole; nothing from it was published".to_string()
            } else {
                let n = conflicts.len();
                let rows = if n == 1 { "1 row repeats".to_string() } else { format!("{n} rows repeat") };
                format!("{rows} a record with different content; the file was refused whole, nothing from it was published")
            };
            let mut all = vec![file_issue(why)];
            all.extend(systematic);
            all.extend(conflicts);
            all.extend(issues);
            return Ok((self.reject(receipt, all), None));
        }
        // Against the lake: a record it holds with other content is a
        // correction sent without a new version; one it holds unchanged is
        // not published again.
        if !kind.source().content_addressed() && !records.is_empty() {
            let mut resent = Vec::new();
            self.known
                .for_each(kind.kind().table(), partner, &mut |id, content| {
                    if let Some(line) = records.against_lake(id, content) {
                        resent.push(line);
                    }
                })
                .map_err(SinkError::Lake)?;
            if !resent.is_empty() {
                resent.sort_unstable();
                let mut all = vec![file_issue(format!(
                    "{} rows change records already received without a new record_version; the file was refused whole and nothing from it was published. To correct a record, send it with a higher record_version",
                    resent.len()
                ))];
                all.extend(resent.into_iter().map(|line| Issue {
                    line,
                    column: 0,
                    column_name: "record_version".into(),
                    reason: "this record (same id and version) was received before with different content: bump record_version to send a correction".into(),
                }));
                return Ok((self.reject(receipt, all), None));
            }
            let known = records.in_lake();
            if known > 0 {
                receipt.rows_duplicate += known;
                issues.insert(0, file_issue(format!("{known} rows were received before in earlier extracts (same record, version and content) and were not published again")));
            }
        }
        let fraction = receipt.rows_rejected as f64 / receipt.rows_read.max(1) as f64;
        if receipt.rows_rejected > 0 && fraction > self.rules.max_rejected_fraction {
            let why = format!(
                "{} of {} rows ({:.1}%) are invalid, more than the {:.0}% allowed: the file was refused whole; fix the cause and resend",
                receipt.rows_rejected,
                receipt.rows_read,
                fraction * 100.0,
                self.rules.max_rejected_fraction * 100.0
            );
            issues.insert(0, file_issue(why));
            return Ok((self.reject(receipt, issues), None));
        }
        if receipt.rows_read == 0 {
            issues.push(Issue { line: 1, column: 0, column_name: String::new(), reason: "the extract has a header but no rows".into() });
        }

        // Pass 2: publish valid rows, quarantine invalid ones.
        let extract_id = receipt.sha256.clone();
        let fctx = FileContext { partner, extract_id: &extract_id, ingested_at: self.now, catalogue: self.catalogue };
        let mut reader = ExtractReader::open(self.path, kind, fctx.context(), &self.rules.limits, dates)
            .map_err(|i| SinkError::FileChanged(format!("{}: {}", self.file_name(), i[0].reason)))?;
        let mut quarantine = self.open_quarantine(&reader, receipt.rows_rejected);
        for outcome in reader.by_ref() {
            match outcome {
                Outcome::Event { event, .. } => {
                    if records.publish(tracker::key(&event)) {
                        sink.send(&event)?;
                        receipt.rows_published += 1;
                    }
                }
                Outcome::Rejected { record, issue, .. } => {
                    if let Some(q) = quarantine.as_mut()
                        && let Err(e) = q.write(&record, issue.column)
                    {
                        tracing::warn!(file = %self.file_name(), error = %e, "cannot write the rejected-rows file; the receipt still lists every issue");
                        quarantine = None;
                    }
                }
                Outcome::Fatal(i) => return Err(SinkError::FileChanged(format!("{}: {}", self.file_name(), i.reason))),
            }
        }
        reader.drain();
        if reader.sha256() != receipt.sha256 {
            return Err(SinkError::FileChanged(format!("{} changed while it was being ingested; it will be read again", self.file_name())));
        }
        if let Some(mut q) = quarantine
            && let Err(e) = q.flush()
        {
            tracing::warn!(file = %self.file_name(), error = %e, "cannot write the rejected-rows file; the receipt still lists every issue");
        }
        let status = if receipt.rows_rejected == 0 { Status::Accepted } else { Status::AcceptedWithRejections };
        receipt.finish(status, issues, Utc::now());
        sink.send(&receipt_event(&receipt, self.now))?;
        let Confirmation { confirmed_by, awaiting_lake } = sink.confirm()?;
        if !kind.source().content_addressed() {
            self.known.published(kind.kind().table(), partner, &mut records.published());
        }
        receipt.confirmed_by = confirmed_by;
        receipt.finished_at = Utc::now();
        Ok((receipt, awaiting_lake))
    }

    fn open_quarantine(&self, reader: &ExtractReader<'_>, rejected: u64) -> Option<Quarantine> {
        let path = self.quarantine.filter(|_| rejected > 0)?;
        match Quarantine::create(path, &reader.header_record, reader.column_types()) {
            Ok(q) => Some(q),
            Err(e) => {
                tracing::warn!(file = %self.file_name(), error = %e, "cannot create the rejected-rows file; the receipt still lists every issue");
                None
            }
        }
    }

    fn reject(&self, mut receipt: Receipt, issues: Vec<Issue>) -> Receipt {
        if receipt.sha256.is_empty() {
            receipt.sha256 = file_sha256(self.path).unwrap_or_default();
        }
        receipt.finish(Status::Rejected, issues, Utc::now());
        receipt
    }
}

/// A file name as receipts and logs may show it: as written, unless it is
/// long, holds control characters or looks like it carries an identifier.
pub fn display_name(name: &str) -> String {
    let unsafe_name = name.len() > MAX_NAME_BYTES
        || name.chars().any(char::is_control)
        || identifiers::scan(name, identifiers::Place::Text).strong.is_some()
        || identifiers::scan(name, identifiers::Place::Text).weak.is_some();
    if unsafe_name { format!("[file name withheld: {}]", shown(name)) } else { name.to_string() }
}

/// Longest file name read as given; longer ones are refused (a receipt
/// name adds 30 bytes, and file systems stop at 255).
pub const MAX_NAME_BYTES: usize = 200;

pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = crate::reader::open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The receipt as an event, so data quality (Q1) is computed from the lake.
/// Its id is derived from the file hash: a re-ingest of the same bytes
/// yields the same receipt event.
pub fn receipt_event(r: &Receipt, now: DateTime<Utc>) -> Event {
    let source = Source::Receipts;
    Event {
        envelope: Envelope {
            event_id: EventId::derive(source.as_str(), &r.partner, &r.sha256, 1),
            source,
            kind: Kind::ExtractReceipt,
            partner: r.partner.clone(),
            record_id: r.sha256.clone(),
            record_version: 1,
            occurred_at: r.extract_date.and_hms_opt(0, 0, 0).expect("midnight"),
            recorded_at: None,
            ingested_at: now,
            extract_id: r.sha256.clone(),
            subject: None,
            role: None,
            age: None,
            sex: None,
            home_lsoa: None,
            event_lsoa: None,
            content_hash: None,
        },
        attributes: Attributes::ExtractReceipt(ExtractReceipt {
            file_name: r.file.clone(),
            extract_kind: r.extract_kind.clone().unwrap_or_default(),
            extract_date: r.extract_date,
            status: r.status.as_str().to_string(),
            rows_read: r.rows_read,
            rows_published: r.rows_published,
            rows_rejected: r.rows_rejected,
            rows_duplicate: r.rows_duplicate,
        }),
    }
}
