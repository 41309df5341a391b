//! Adverse childhood experience screenings from children's services. Each
//! indicator is Y (present), N (absent) or U/blank (not known): a child with
//! five indicators present and three unknown is "at least five", not "five".

use super::{AGE, Context, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope};
use crate::event::{AceScreening, Attributes, Event, Kind, Role};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::tables::ACE_INDICATORS;

pub const SETS: &[&str] = &["cdc10", "phw9"];
const TRI: FieldType = FieldType::OneOf(&["y", "n", "u", "yes", "no", "unknown"]);

/// The indicators each set asks about (names as in [`ACE_INDICATORS`]).
pub fn indicators_of(set: &str) -> &'static [&'static str] {
    match set {
        "cdc10" => &[
            "physical_abuse",
            "sexual_abuse",
            "emotional_abuse",
            "physical_neglect",
            "emotional_neglect",
            "domestic_violence",
            "household_substance_misuse",
            "household_mental_illness",
            "parental_separation",
            "incarcerated_household_member",
        ],
        "phw9" => &[
            "physical_abuse",
            "sexual_abuse",
            "emotional_abuse",
            "domestic_violence",
            "household_alcohol_misuse",
            "household_drug_misuse",
            "household_mental_illness",
            "parental_separation",
            "incarcerated_household_member",
        ],
        _ => &[],
    }
}

pub const SCREENING_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("child_id", FieldType::Pseudonym),
    AGE,
    SEX,
    req("assessment_date", FieldType::Date),
    req("indicator_set", FieldType::OneOf(SETS)),
    opt("physical_abuse", TRI),
    opt("sexual_abuse", TRI),
    opt("emotional_abuse", TRI),
    opt("physical_neglect", TRI),
    opt("emotional_neglect", TRI),
    opt("domestic_violence", TRI),
    opt("household_substance_misuse", TRI),
    opt("household_alcohol_misuse", TRI),
    opt("household_drug_misuse", TRI),
    opt("household_mental_illness", TRI),
    opt("parental_separation", TRI),
    opt("incarcerated_household_member", TRI),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<Event, FieldError> {
    let set = row.code("indicator_set")?.expect("required");
    let asked = indicators_of(&set);
    let mut indicators = Vec::with_capacity(asked.len());
    for name in ACE_INDICATORS {
        let value = row.code(name)?;
        if !asked.contains(name) {
            if value.is_some() {
                return Err(row.error(name, format!("indicator is not part of the {} set; leave it blank", set.to_uppercase())));
            }
            continue;
        }
        let v = match value.as_deref() {
            Some("y" | "yes") => Some(true),
            Some("n" | "no") => Some(false),
            _ => None,
        };
        indicators.push((name.to_string(), v));
    }
    let date = row.date("assessment_date")?.expect("required");
    let attributes = Attributes::AceScreening(AceScreening { indicator_set: set.to_uppercase(), indicators });
    let subject = Subject::read(row, "child_id", Some(Role::Child))?;
    let envelope = envelope(ctx, row, Kind::AceScreening, date.and_hms_opt(0, 0, 0).expect("midnight"), None, subject, None)?;
    Ok(Event { envelope, attributes })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{PSEUDO, parse_pairs};
    use crate::event::Attributes;
    use crate::extract::ExtractKind;

    #[test]
    fn tri_state_indicators() {
        let row = [
            ("record_id", "1"),
            ("child_id", PSEUDO),
            ("assessment_date", "2023-01-01"),
            ("indicator_set", "CDC10"),
            ("physical_abuse", "Y"),
            ("sexual_abuse", "N"),
            ("emotional_abuse", "U"),
            ("domestic_violence", "y"),
        ];
        let e = parse_pairs(ExtractKind::AceScreenings, &row).unwrap();
        let Attributes::AceScreening(a) = e.attributes else { panic!() };
        assert_eq!((a.present(), a.unknown(), a.indicators.len()), (2, 7, 10));
        let mut bad = row.to_vec();
        bad.push(("household_drug_misuse", "N"));
        assert!(parse_pairs(ExtractKind::AceScreenings, &bad).unwrap_err().reason.contains("not part of the CDC10 set"));
    }
}
