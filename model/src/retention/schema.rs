//! The two lake tables retention writes, and how their rows are laid out.
//!
//! - `retention_markers`: one row per event version a run erased: the run,
//!   the table, the partner, the event id (a hash of source, partner,
//!   record id and version: never a record id or pseudonym in clear), why
//!   and the date it fell due. Views hide marked events before any file is
//!   rewritten; afterwards the marker is what stops a re-sent copy of an
//!   erased event from being written again.
//! - `retention_runs`: the management information, one row per run, table
//!   and partner ([`Tally`]), counts only.

use super::decide::Tally;
use crate::tables::Table;
use arrow_array::builder::{BooleanBuilder, Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;

pub const MARKERS: &str = "retention_markers";
pub const RUNS: &str = "retention_runs";

/// Delta `txn` application ids retention writes. On an event table:
/// the latest run whose markers apply to it, and the latest run whose
/// marked rows are physically gone; readers hide markers of runs in
/// `(deleted, marked]`. On `retention_markers` and `retention_runs`: the
/// latest run written there, which makes re-writing after a crash a no-op.
pub const APP_MARKED: &str = "vru-retention:marked";
pub const APP_DELETED: &str = "vru-retention:deleted";
pub const APP_RUN: &str = "vru-retention:run";

/// Why an event was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Past its retention date.
    Expired,
    /// The partner withdrew it (erasure or rectification).
    Withdrawn,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Withdrawn => "withdrawn",
        }
    }
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn markers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_seq", DataType::Int64, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("partner", DataType::Utf8, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("due_date", DataType::Date32, false),
        Field::new("marked_at", utc(), false),
    ]))
}

/// Columns of `retention_runs` after the run's identity and the table and
/// partner: the [`Tally`] fields, in order.
pub const TALLY_COLUMNS: &[&str] = &[
    "records",
    "due",
    "deleted_on_time",
    "deleted_late",
    "days_late_total",
    "days_late_max",
    "held",
    "held_past_date",
    "extended",
    "due_30",
    "due_90",
    "withdrawn",
    "events_erased",
];

pub fn runs_schema() -> SchemaRef {
    let mut f = vec![
        Field::new("run_seq", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("started_at", utc(), false),
        Field::new("finished_at", utc(), false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("policy", DataType::Utf8, false),
        Field::new("policy_version", DataType::Utf8, false),
        Field::new("policy_sha256", DataType::Utf8, false),
        // `applied`, or `refused` (over the share limit without --confirm:
        // nothing deleted, everything due counted in held_past_date).
        Field::new("outcome", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("partner", DataType::Utf8, false),
    ];
    f.extend(TALLY_COLUMNS.iter().map(|c| Field::new(*c, DataType::Int64, false)));
    // Stage 2 checked: no erased event is left in the table's files.
    f.push(Field::new("verified", DataType::Boolean, false));
    // The oldest ingestion time among erased events: a report that read
    // the table before then cannot have used them.
    f.push(Field::new("earliest_erased_ingested_at", utc(), true));
    Arc::new(Schema::new(f))
}

/// One marker row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub table: Table,
    pub partner: String,
    pub event_id: crate::ids::EventId,
    pub reason: Reason,
    pub due: NaiveDate,
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub fn markers_batch(run_seq: i64, markers: &[Marker], at: DateTime<Utc>) -> Result<RecordBatch, ArrowError> {
    let n = markers.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut table = StringBuilder::new();
    let mut partner = StringBuilder::new();
    let mut id = StringBuilder::with_capacity(n, n * 32);
    let mut reason = StringBuilder::new();
    let mut due = Date32Builder::with_capacity(n);
    let mut marked = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for m in markers {
        seq.append_value(run_seq);
        table.append_value(m.table.name());
        partner.append_value(&m.partner);
        id.append_value(m.event_id.to_string());
        reason.append_value(m.reason.as_str());
        due.append_value(days(m.due));
        marked.append_value(at.timestamp_micros());
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(table.finish()),
        Arc::new(partner.finish()),
        Arc::new(id.finish()),
        Arc::new(reason.finish()),
        Arc::new(due.finish()),
        Arc::new(marked.finish()),
    ];
    RecordBatch::try_new(markers_schema(), cols)
}

/// A run's identity, shared by its rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunHeader {
    pub seq: i64,
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub policy: String,
    pub policy_version: String,
    pub policy_sha256: String,
    pub outcome: String,
}

/// One `retention_runs` row's variable part.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRow {
    pub table: String,
    pub partner: String,
    pub tally: Tally,
    pub verified: bool,
    pub earliest_erased_ingested_at: Option<DateTime<Utc>>,
}

fn tally_values(t: &Tally) -> [u64; 13] {
    [
        t.records,
        t.due,
        t.deleted_on_time,
        t.deleted_late,
        t.days_late_total,
        t.days_late_max,
        t.held,
        t.held_past_date,
        t.extended,
        t.due_30,
        t.due_90,
        t.withdrawn,
        t.events_erased,
    ]
}

pub fn runs_batch(h: &RunHeader, finished_at: DateTime<Utc>, rows: &[RunRow]) -> Result<RecordBatch, ArrowError> {
    let s = |v: &str| -> ArrayRef { Arc::new(arrow_array::StringArray::from(vec![v; rows.len()])) };
    let ts = |t: DateTime<Utc>| -> ArrayRef {
        Arc::new(arrow_array::TimestampMicrosecondArray::from(vec![t.timestamp_micros(); rows.len()]).with_timezone("UTC"))
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::Int64Array::from(vec![h.seq; rows.len()])),
        s(&h.id),
        ts(h.started_at),
        ts(finished_at),
        Arc::new(arrow_array::Date32Array::from(vec![days(h.as_of); rows.len()])),
        s(&h.policy),
        s(&h.policy_version),
        s(&h.policy_sha256),
        s(&h.outcome),
        Arc::new(arrow_array::StringArray::from(rows.iter().map(|r| r.table.as_str()).collect::<Vec<_>>())),
        Arc::new(arrow_array::StringArray::from(rows.iter().map(|r| r.partner.as_str()).collect::<Vec<_>>())),
    ];
    for i in 0..TALLY_COLUMNS.len() {
        let mut b = Int64Builder::with_capacity(rows.len());
        for r in rows {
            b.append_value(i64::try_from(tally_values(&r.tally)[i]).unwrap_or(i64::MAX));
        }
        cols.push(Arc::new(b.finish()));
    }
    let mut v = BooleanBuilder::with_capacity(rows.len());
    let mut e = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    for r in rows {
        v.append_value(r.verified);
        e.append_option(r.earliest_erased_ingested_at.map(|t| t.timestamp_micros()));
    }
    cols.push(Arc::new(v.finish()));
    cols.push(Arc::new(e.finish()));
    RecordBatch::try_new(runs_schema(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventId;

    #[test]
    fn batches_match_their_schemas_and_hold_no_record_id() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T02:00:00Z").unwrap().with_timezone(&Utc);
        let id = EventId::derive("police", "police-n", "CRIME-2019-0042", 1);
        let m = Marker {
            table: Table::PoliceOffences,
            partner: "police-n".into(),
            event_id: id,
            reason: Reason::Expired,
            due: "2025-05-01".parse().unwrap(),
        };
        let b = markers_batch(7, &[m], at).unwrap();
        assert_eq!(b.num_rows(), 1);
        let text = format!("{b:?}");
        assert!(text.contains(&id.to_string()) && !text.contains("CRIME-2019-0042"));
        let h = RunHeader {
            seq: 7,
            id: "r7".into(),
            started_at: at,
            as_of: "2026-11-25".parse().unwrap(),
            policy: "default".into(),
            policy_version: "2026.1".into(),
            policy_sha256: "00".into(),
            outcome: "applied".into(),
        };
        let row = RunRow {
            table: "police_offences".into(),
            partner: "police-n".into(),
            tally: Tally { records: 3, due: 1, ..Default::default() },
            verified: true,
            earliest_erased_ingested_at: None,
        };
        let b = runs_batch(&h, at, &[row.clone(), row]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema().fields().len(), 11 + TALLY_COLUMNS.len() + 2);
    }
}
