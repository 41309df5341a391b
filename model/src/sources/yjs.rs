//! Youth justice service outcomes, one row per child, offence and outcome.

use super::common::{AGE_OF_CRIMINAL_RESPONSIBILITY, Context, HOME_LSOA, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope, offence_code};
use crate::attributes::{TableAttributes, opt_date, text};
use crate::envelope::{Envelope, Role};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct YjOutcome {
    pub offence_code: String,
    pub outcome: String,
    pub outcome_date: Option<NaiveDate>,
    pub gravity_score: Option<u8>,
}

impl TableAttributes for YjOutcome {
    fn fields() -> Vec<Field> {
        vec![text("offence_code"), text("outcome"), opt_date("outcome_date"), Field::new("gravity_score", DataType::Int32, true)]
    }
}

pub const OUTCOMES: &[&str] = &[
    "charge",
    "caution",
    "youth_caution",
    "youth_conditional_caution",
    "community_resolution",
    "referral_order",
    "youth_rehabilitation_order",
    "custody",
    "other",
];

pub const OUTCOME_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("child_id", FieldType::Pseudonym),
    req("age", FieldType::Int { min: 0, max: 25 }),
    SEX,
    HOME_LSOA,
    req("offence_code", FieldType::Text),
    req("offence_date", FieldType::Date),
    req("outcome", FieldType::OneOf(OUTCOMES)),
    opt("outcome_date", FieldType::Date),
    opt("gravity_score", FieldType::Int { min: 1, max: 8 }),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, YjOutcome), FieldError> {
    let offence_date = row.date("offence_date")?.expect("required");
    if let Some(age) = row.int("age")?
        && age < AGE_OF_CRIMINAL_RESPONSIBILITY
    {
        return Err(row.error(
            "age",
            format!("{age} is under the age of criminal responsibility ({AGE_OF_CRIMINAL_RESPONSIBILITY}): no youth justice outcome is possible; check the age or the date of birth it came from"),
        ));
    }
    let outcome_date = row.date("outcome_date")?;
    if let Some(o) = outcome_date
        && o < offence_date
    {
        return Err(row.error("outcome_date", format!("{o} is before the offence ({offence_date})")));
    }
    let attributes = YjOutcome {
        offence_code: offence_code(ctx, row, "offence_code")?,
        outcome: row.code("outcome")?.expect("required"),
        outcome_date,
        gravity_score: row.int("gravity_score")?.map(|g| g as u8),
    };
    let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight");
    let subject = Subject::read(row, "child_id", Some(Role::Child))?;
    let envelope = envelope(ctx, row, Kind::YjOutcome, midnight(offence_date), outcome_date.map(midnight), subject, None)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{PSEUDO, parse_pairs};
    use crate::extract::ExtractKind;

    #[test]
    fn outcome_rows() {
        let base = [
            ("record_id", "Y1"),
            ("child_id", PSEUDO),
            ("age", "15"),
            ("offence_code", "5D"),
            ("offence_date", "2023-06-01"),
            ("outcome", "charge"),
            ("gravity_score", "6"),
        ];
        assert!(parse_pairs(ExtractKind::YjOutcomes, &base).is_ok());
        let mut bad = base.to_vec();
        bad[6] = ("gravity_score", "9");
        assert!(parse_pairs(ExtractKind::YjOutcomes, &bad).unwrap_err().reason.contains("out of range 1-8"));
        let mut young = base.to_vec();
        young[2] = ("age", "9");
        assert!(parse_pairs(ExtractKind::YjOutcomes, &young).unwrap_err().reason.contains("age of criminal responsibility (10)"));
    }
}
