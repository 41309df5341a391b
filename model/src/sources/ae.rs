//! A&E assault attendances: the Information Sharing to Tackle Violence
//! minimum data set (ISB 1594) plus age, sex and home LSOA for linkage.

use super::common::{AGE, Context, HOME_LSOA, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope};
use crate::attributes::{TableAttributes, local_timestamp, opt_text, text};
use crate::envelope::{Envelope, Role};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::Field;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// An A&E assault attendance: the ISTV minimum data set plus linkage fields.
/// The ISTV fields are optional because their completeness is itself a
/// measure (A1); a blank one is recorded, not rejected.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AeAttendance {
    pub site_code: String,
    pub assault_at: Option<NaiveDateTime>,
    pub assault_method: Option<String>,
    pub location_type: Option<String>,
    pub location_description: Option<String>,
}

impl TableAttributes for AeAttendance {
    fn fields() -> Vec<Field> {
        vec![
            text("site_code"),
            Field::new("assault_at", local_timestamp(), true),
            opt_text("assault_method"),
            opt_text("location_type"),
            opt_text("location_description"),
        ]
    }
}

pub const ASSAULT_METHODS: &[&str] = &["knife_sharp_object", "blunt_object", "body_part", "firearm", "other"];
pub const LOCATION_TYPES: &[&str] = &["public_place", "home", "licensed_premises", "school", "workplace", "other"];

/// The ISTV mandatory fields besides the site and arrival: A1 reports how
/// complete each is, so blanks are kept as nulls, not rejected.
pub const ISTV_MANDATORY: &[&str] = &["assault_at", "assault_method", "location_type", "location_description"];

pub const ATTENDANCE_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("site_code", FieldType::Text),
    req("arrival_at", FieldType::DateTime),
    opt("assault_at", FieldType::DateTime),
    opt("assault_method", FieldType::OneOf(ASSAULT_METHODS)),
    opt("location_type", FieldType::OneOf(LOCATION_TYPES)),
    opt("location_description", FieldType::FreeText),
    req("patient_id", FieldType::Pseudonym),
    AGE,
    SEX,
    HOME_LSOA,
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, AeAttendance), FieldError> {
    let arrival = row.datetime("arrival_at")?.expect("required");
    let assault_at = row.datetime("assault_at")?;
    if let Some(a) = assault_at
        && a > arrival
    {
        return Err(row.error("assault_at", format!("{a} is after the arrival at A&E ({arrival})")));
    }
    let attributes = AeAttendance {
        site_code: row.req_text("site_code")?,
        assault_at,
        assault_method: row.code("assault_method")?,
        location_type: row.code("location_type")?,
        location_description: row.text("location_description")?,
    };
    let subject = Subject::read(row, "patient_id", Some(Role::Patient))?;
    let envelope = envelope(ctx, row, Kind::AeAttendance, arrival, None, subject, None)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{PSEUDO, parse_pairs};
    use crate::extract::ExtractKind;

    #[test]
    fn attendance_rows() {
        let base = [("record_id", "1"), ("site_code", "RW3"), ("arrival_at", "2024-02-03 23:10"), ("patient_id", PSEUDO)];
        let e = parse_pairs(ExtractKind::AeAttendances, &base).unwrap();
        assert_eq!(e.envelope.event_lsoa, None);
        let mut bad = base.to_vec();
        bad.push(("location_description", "outside M1 1AE"));
        let err = parse_pairs(ExtractKind::AeAttendances, &bad).unwrap_err();
        assert!(err.reason.contains("postcode"), "{err}");
        let mut bad = base.to_vec();
        bad.push(("assault_at", "2024-02-04 01:00"));
        assert_eq!(parse_pairs(ExtractKind::AeAttendances, &bad).unwrap_err().column, 5);
    }
}
