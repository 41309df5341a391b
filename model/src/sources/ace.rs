//! Adverse childhood experience screenings from children's services. Each
//! indicator is Y (present), N (absent) or U/blank (not known): a child with
//! five indicators present and three unknown is "at least five", not "five".

use super::common::{AGE, Context, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope};
use crate::attributes::{TableAttributes, text};
use crate::envelope::{Envelope, Role};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

/// One ACE screening. Each indicator is present (`true`), absent (`false`)
/// or not known (`None`), because unknown is not the same as absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AceScreening {
    pub indicator_set: String,
    pub indicators: Vec<(String, Option<bool>)>,
}

impl AceScreening {
    pub fn present(&self) -> usize {
        self.indicators.iter().filter(|(_, v)| *v == Some(true)).count()
    }
    pub fn unknown(&self) -> usize {
        self.indicators.iter().filter(|(_, v)| v.is_none()).count()
    }
}

/// A screening as the table keeps it: the counts analysts filter on, then
/// one nullable column per indicator (blank where the set does not ask it).
impl TableAttributes for AceScreening {
    fn fields() -> Vec<Field> {
        let count = |n: &str| Field::new(n, DataType::Int32, false);
        let mut f = vec![text("indicator_set"), count("n_present"), count("n_unknown"), count("n_assessed")];
        f.extend(ACE_INDICATORS.iter().map(|n| Field::new(*n, DataType::Boolean, true)));
        f
    }

    fn row(&self) -> impl Serialize + '_ {
        AceRow(self)
    }
}

struct AceRow<'a>(&'a AceScreening);

impl Serialize for AceRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("indicator_set", &a.indicator_set)?;
        m.serialize_entry("n_present", &a.present())?;
        m.serialize_entry("n_unknown", &a.unknown())?;
        m.serialize_entry("n_assessed", &a.indicators.len())?;
        for (name, value) in &a.indicators {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

/// Every indicator, none known: the shape of a blank PHW9+CDC10 form.
impl Default for AceScreening {
    fn default() -> Self {
        AceScreening { indicator_set: "CDC10".into(), indicators: ACE_INDICATORS.iter().map(|n| (n.to_string(), None)).collect() }
    }
}

/// ACE indicators across the two indicator sets. CDC10 has the two neglect
/// items and one substance-misuse item; PHW9 drops neglect and splits
/// substance misuse into alcohol and drugs.
pub const ACE_INDICATORS: &[&str] = &[
    "physical_abuse",
    "sexual_abuse",
    "emotional_abuse",
    "physical_neglect",
    "emotional_neglect",
    "domestic_violence",
    "household_substance_misuse",
    "household_alcohol_misuse",
    "household_drug_misuse",
    "household_mental_illness",
    "parental_separation",
    "incarcerated_household_member",
];

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

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, AceScreening), FieldError> {
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
    let attributes = AceScreening { indicator_set: set.to_uppercase(), indicators };
    let subject = Subject::read(row, "child_id", Some(Role::Child))?;
    let envelope = envelope(ctx, row, Kind::AceScreening, date.and_hms_opt(0, 0, 0).expect("midnight"), None, subject, None)?;
    Ok((envelope, attributes))
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
