//! The strategy's commitments tracker. Each status update of a commitment
//! is a new version of its record, so the lake keeps the history and the
//! status at any date can be read back.

use super::common::{Context, RECORD_ID, RECORD_VERSION, Subject, envelope};
use crate::attributes::{TableAttributes, text};
use crate::envelope::Envelope;
use crate::extract::{Column, FieldError, FieldType, Row, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One status update of a strategy commitment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Commitment {
    pub title: String,
    pub priority: String,
    pub owner: String,
    pub due_date: NaiveDate,
    pub status: String,
}

impl TableAttributes for Commitment {
    fn fields() -> Vec<Field> {
        vec![text("title"), text("priority"), text("owner"), Field::new("due_date", DataType::Date32, false), text("status")]
    }
}

pub const PRIORITIES: &[&str] = &["prevention_and_early_intervention", "support_and_protect", "disrupt_divert_and_enforce"];
pub const STATUSES: &[&str] = &["delivered", "on_track", "at_risk", "not_started"];

pub const COMMITMENT_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("title", FieldType::Text),
    req("priority", FieldType::OneOf(PRIORITIES)),
    req("owner", FieldType::Text),
    req("due_date", FieldType::PlannedDate),
    req("status", FieldType::OneOf(STATUSES)),
    req("status_date", FieldType::Date),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, Commitment), FieldError> {
    let status_date = row.date("status_date")?.expect("required");
    let attributes = Commitment {
        title: row.req_text("title")?,
        priority: row.code("priority")?.expect("required"),
        owner: row.req_text("owner")?,
        due_date: row.date("due_date")?.expect("required"),
        status: row.code("status")?.expect("required"),
    };
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let envelope = envelope(ctx, row, Kind::CommitmentStatus, status_date.and_hms_opt(0, 0, 0).expect("midnight"), None, nobody, None)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::parse_pairs;
    use crate::extract::ExtractKind;

    #[test]
    fn commitment_rows() {
        let row = [
            ("record_id", "C1"),
            ("record_version", "2"),
            ("title", "Navigators in A&E"),
            ("priority", "support_and_protect"),
            ("owner", "VRU"),
            ("due_date", "2024-03-31"),
            ("status", "on_track"),
            ("status_date", "2023-12-01"),
        ];
        let e = parse_pairs(ExtractKind::Commitments, &row).unwrap();
        assert_eq!(e.envelope.record_version, 2);
        let mut bad = row.to_vec();
        bad[6] = ("status", "late");
        assert!(parse_pairs(ExtractKind::Commitments, &bad).unwrap_err().reason.contains("not one of"));
    }
}
