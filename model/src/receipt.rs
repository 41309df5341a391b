//! The receipt an ingest writes next to each extract: what was read, what
//! was published and exactly which rows were refused and why, so the
//! partner can fix them without asking.

use crate::error::ErrorKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How the extract as a whole was treated. The rule, applied to every file:
/// a file whose structure is wrong (unreadable, bad header, raw identifiers,
/// or too many bad rows) is rejected whole and nothing from it is published;
/// otherwise its valid rows are published and each bad row is quarantined
/// and listed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    AcceptedWithRejections,
    Rejected,
    /// The same bytes were ingested before; nothing was published again.
    Duplicate,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::AcceptedWithRejections => "accepted_with_rejections",
            Status::Rejected => "rejected",
            Status::Duplicate => "duplicate",
        }
    }
}

/// One refused row or file-level problem. `line` is the physical line in the
/// file where the record starts (1 is the header); `column` is 1-based, 0
/// when the problem is not in one column (a missing column, a short row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub line: u64,
    pub column: usize,
    pub column_name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub file: String,
    pub partner: String,
    pub extract_kind: Option<String>,
    pub sha256: String,
    pub bytes: u64,
    pub extract_date: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: Status,
    pub rows_read: u64,
    pub rows_published: u64,
    pub rows_rejected: u64,
    /// Rows repeating an earlier row of the same file (same record and
    /// version): published once, counted here for the data-quality measure.
    pub rows_duplicate: u64,
    /// At most [`MAX_ISSUES_LISTED`] issues are listed; `issues_total` counts all.
    pub issues: Vec<Issue>,
    pub issues_total: u64,
    /// Where the broker or lake confirmed the events, e.g. "kafka-acknowledged"
    /// or "lake-committed"; empty when nothing was published.
    pub confirmed_by: String,
    /// Whose fault the refused rows or file are: `partner_data` when any
    /// row or the file was refused, absent otherwise. Refusals for a cause
    /// that may heal (a broker, the lake) write no receipt: the file stays
    /// in the landing folder and is tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<ErrorKind>,
}

pub const MAX_ISSUES_LISTED: usize = 1000;

impl Receipt {
    /// A receipt for a file about to be read: rejected until it is finished
    /// otherwise, so a receipt cut short never claims acceptance.
    pub fn start(
        file: String,
        partner: String,
        extract_kind: Option<String>,
        bytes: u64,
        extract_date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Receipt {
        Receipt {
            file,
            partner,
            extract_kind,
            sha256: String::new(),
            bytes,
            extract_date,
            started_at: now,
            finished_at: now,
            status: Status::Rejected,
            rows_read: 0,
            rows_published: 0,
            rows_rejected: 0,
            rows_duplicate: 0,
            issues: Vec::new(),
            issues_total: 0,
            confirmed_by: String::new(),
            fault: None,
        }
    }

    /// A file refused (or recognised as a duplicate) before any row is
    /// read, for one file-level reason.
    #[allow(clippy::too_many_arguments)]
    pub fn refused(
        file: String,
        partner: String,
        bytes: u64,
        extract_date: NaiveDate,
        now: DateTime<Utc>,
        status: Status,
        sha256: String,
        reason: &str,
    ) -> Receipt {
        let mut r = Receipt::start(file, partner, None, bytes, extract_date, now);
        r.sha256 = sha256;
        r.finish(status, vec![Issue { line: 0, column: 0, column_name: String::new(), reason: reason.into() }], now);
        r
    }

    /// Settles the outcome: the status, the issues (at most
    /// [`MAX_ISSUES_LISTED`] listed, all counted) and whose fault they are.
    pub fn finish(&mut self, status: Status, mut issues: Vec<Issue>, now: DateTime<Utc>) {
        self.status = status;
        self.finished_at = now;
        if status == Status::Rejected {
            self.rows_published = 0;
        }
        self.fault = match status {
            Status::Rejected | Status::AcceptedWithRejections => Some(ErrorKind::PartnerData),
            Status::Accepted | Status::Duplicate => None,
        };
        self.issues_total = issues.len() as u64;
        issues.truncate(MAX_ISSUES_LISTED);
        self.issues = issues;
    }

    /// One line per issue in `file:line:column: reason` form, the form
    /// editors and CI logs make clickable.
    pub fn issue_lines(&self) -> Vec<String> {
        self.issues
            .iter()
            .map(|i| {
                let col = if i.column_name.is_empty() { String::new() } else { format!(" ({})", i.column_name) };
                format!("{}:{}:{}:{col} {}", self.file, i.line, i.column, i.reason)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn issue(line: u64) -> Issue {
        Issue { line, column: 2, column_name: "age".into(), reason: "not a whole number".into() }
    }

    #[test]
    fn finishing_says_whose_fault_and_lists_at_most_the_limit() {
        let day = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        let mut r = Receipt::start("f.csv".into(), "police-x".into(), None, 10, day, at());
        assert_eq!((r.status, r.fault), (Status::Rejected, None), "a receipt cut short never claims acceptance");
        r.rows_published = 5;
        r.finish(Status::Accepted, Vec::new(), at());
        assert_eq!((r.fault, r.issues_total), (None, 0));
        r.finish(Status::AcceptedWithRejections, (1..=MAX_ISSUES_LISTED as u64 + 5).map(issue).collect(), at());
        assert_eq!(
            (r.fault, r.issues.len(), r.issues_total),
            (Some(ErrorKind::PartnerData), MAX_ISSUES_LISTED, MAX_ISSUES_LISTED as u64 + 5)
        );
        assert_eq!(r.rows_published, 5);
        r.finish(Status::Rejected, vec![issue(3)], at());
        assert_eq!((r.rows_published, r.fault), (0, Some(ErrorKind::PartnerData)), "nothing from a rejected file counts as published");
        let dup = Receipt::refused("f.csv".into(), "police-x".into(), 10, day, at(), Status::Duplicate, "ab".into(), "seen before");
        assert_eq!((dup.fault, dup.issues_total, dup.sha256.as_str()), (None, 1, "ab"));
        let text = serde_json::to_string(&dup).unwrap();
        assert!(!text.contains("fault"), "no fault, no key: {text}");
        let back: Receipt = serde_json::from_str(&text).unwrap();
        assert_eq!(back, dup);
    }
}
