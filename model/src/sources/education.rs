//! Education: the school census (the comparison population), suspensions,
//! permanent exclusions, alternative-provision placements and NEET status.
//! Exclusion data arrive two terms late, so the cohort measures must be read
//! with the extract date in mind (Q1 reports timeliness).

use super::common::{Context, HOME_LSOA, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope};
use crate::attributes::{TableAttributes, opt_date, opt_text};
use crate::envelope::{Envelope, Role};
use crate::extract::{Column, ExtractKind, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Census rows, suspensions, exclusions, alternative provision and NEET
/// share one table: the cohort measures ask "did this person ever have X",
/// which is one scan of one table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EducationEvent {
    pub school: Option<String>,
    pub end_date: Option<NaiveDate>,
    pub sessions: Option<f64>,
    pub reason_codes: Vec<String>,
    pub status: Option<String>,
}

impl TableAttributes for EducationEvent {
    fn fields() -> Vec<Field> {
        vec![
            opt_text("school"),
            opt_date("end_date"),
            Field::new("sessions", DataType::Float64, true),
            Field::new("reason_codes", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
            opt_text("status"),
        ]
    }
}

/// A pupil can be suspended for at most 45 school days a year (90
/// sessions), so no single suspension is longer.
pub const MAX_SUSPENSION_SESSIONS: u32 = 90;
pub const NEET_STATUSES: &[&str] = &["neet", "eet", "not_known"];
const PUPIL: Column = req("pupil_id", FieldType::Pseudonym);
const AGE_REQ: Column = req("age", FieldType::Int { min: 0, max: 25 });
const SCHOOL: Column = opt("school", FieldType::Text);
/// Reason codes (`PP`, `PA`, `VP`, `OW`, ...) follow the DfE census list,
/// which changes; any two-letter code is accepted and stored upper-case.
const REASONS: [Column; 3] = [opt("reason_1", FieldType::Text), opt("reason_2", FieldType::Text), opt("reason_3", FieldType::Text)];

pub const CENSUS_COLUMNS: &[Column] =
    &[RECORD_ID, RECORD_VERSION, PUPIL, AGE_REQ, SEX, HOME_LSOA, SCHOOL, req("census_date", FieldType::Date)];

pub const SUSPENSION_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    PUPIL,
    AGE_REQ,
    SEX,
    HOME_LSOA,
    SCHOOL,
    req("start_date", FieldType::Date),
    opt("sessions", FieldType::Decimal { max: MAX_SUSPENSION_SESSIONS }),
    REASONS[0],
    REASONS[1],
    REASONS[2],
];

pub const EXCLUSION_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    PUPIL,
    AGE_REQ,
    SEX,
    HOME_LSOA,
    SCHOOL,
    req("exclusion_date", FieldType::Date),
    REASONS[0],
    REASONS[1],
    REASONS[2],
];

pub const AP_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    PUPIL,
    AGE_REQ,
    SEX,
    HOME_LSOA,
    opt("provider", FieldType::Text),
    req("start_date", FieldType::Date),
    opt("end_date", FieldType::Date),
];

pub const NEET_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    PUPIL,
    AGE_REQ,
    SEX,
    HOME_LSOA,
    req("census_date", FieldType::Date),
    req("status", FieldType::OneOf(NEET_STATUSES)),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, EducationEvent), FieldError> {
    let mut attrs = EducationEvent::default();
    let (kind, date): (Kind, NaiveDate) = match row.kind {
        ExtractKind::SchoolCensus => (Kind::SchoolCensus, row.date("census_date")?.expect("required")),
        ExtractKind::Suspensions => {
            attrs.sessions = row.decimal("sessions")?;
            attrs.reason_codes = reasons(row)?;
            (Kind::Suspension, row.date("start_date")?.expect("required"))
        }
        ExtractKind::Exclusions => {
            attrs.reason_codes = reasons(row)?;
            (Kind::PermanentExclusion, row.date("exclusion_date")?.expect("required"))
        }
        ExtractKind::ApPlacements => {
            attrs.school = row.text("provider")?;
            let start = row.date("start_date")?.expect("required");
            attrs.end_date = row.date("end_date")?;
            if let Some(end) = attrs.end_date
                && end < start
            {
                return Err(row.error("end_date", format!("{end} is before the placement started ({start})")));
            }
            (Kind::ApPlacement, start)
        }
        ExtractKind::Neet => {
            attrs.status = row.code("status")?;
            (Kind::NeetStatus, row.date("census_date")?.expect("required"))
        }
        other => unreachable!("{other:?} is not an education extract"),
    };
    if matches!(row.kind, ExtractKind::SchoolCensus | ExtractKind::Suspensions | ExtractKind::Exclusions) {
        attrs.school = row.text("school")?;
    }
    let subject = Subject::read(row, "pupil_id", Some(Role::Pupil))?;
    let envelope = envelope(ctx, row, kind, date.and_hms_opt(0, 0, 0).expect("midnight"), None, subject, None)?;
    Ok((envelope, attrs))
}

fn reasons(row: &Row<'_>) -> Result<Vec<String>, FieldError> {
    let mut out = Vec::new();
    for name in ["reason_1", "reason_2", "reason_3"] {
        if let Some(code) = row.raw(name)? {
            if code.len() != 2 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(row.error(
                    name,
                    format!("`{}` is not a two-letter exclusion reason code (e.g. PP, VA, OW)", crate::identifiers::shown(code)),
                ));
            }
            out.push(code.to_ascii_uppercase());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{PSEUDO, parse_pairs};
    use crate::event::{Attributes, Kind};
    use crate::extract::ExtractKind;

    #[test]
    fn suspension_reasons() {
        let row = [
            ("record_id", "S1"),
            ("pupil_id", PSEUDO),
            ("age", "14"),
            ("start_date", "2023-10-02"),
            ("sessions", "4"),
            ("reason_1", "pp"),
            ("reason_2", "OW"),
        ];
        let e = parse_pairs(ExtractKind::Suspensions, &row).unwrap();
        assert_eq!(e.envelope.kind, Kind::Suspension);
        let Attributes::Education(a) = e.attributes else { panic!() };
        assert_eq!(a.reason_codes, vec!["PP", "OW"]);
        let mut bad = row.to_vec();
        bad[5] = ("reason_1", "PPP");
        assert_eq!(parse_pairs(ExtractKind::Suspensions, &bad).unwrap_err().column_name, "reason_1");
    }

    #[test]
    fn ap_end_before_start() {
        let row = [("record_id", "A"), ("pupil_id", PSEUDO), ("age", "14"), ("start_date", "2023-10-02"), ("end_date", "2023-09-01")];
        assert!(parse_pairs(ExtractKind::ApPlacements, &row).unwrap_err().reason.contains("before the placement started"));
    }
}
