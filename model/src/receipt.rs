//! The receipt an ingest writes next to each extract: what was read, what
//! was published and exactly which rows were refused and why, so the
//! partner can fix them without asking.

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
}

pub const MAX_ISSUES_LISTED: usize = 1000;

impl Receipt {
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
