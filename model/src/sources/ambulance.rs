//! Ambulance call-outs: one row per incident an ambulance service attended,
//! from its computer-aided dispatch system. No patient identifier: a
//! call-out cannot be linked to a person, only placed (the incident's LSOA)
//! and described (age band, sex, whether it was an assault and whether a
//! weapon was involved). Assault call-outs reach violence that is never
//! reported to the police or seen at A&E.

use super::common::{Context, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope};
use crate::attributes::{TableAttributes, flag, opt_text, text};
use crate::envelope::Envelope;
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::Field;
use serde::{Deserialize, Serialize};

/// One attended incident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AmbulanceCallout {
    /// Ambulance Response Programme category: `c1` (life-threatening) to
    /// `c5` (hear and treat or referral).
    pub category: String,
    pub age_band: Option<String>,
    pub assault: bool,
    pub weapon: bool,
}

impl TableAttributes for AmbulanceCallout {
    fn fields() -> Vec<Field> {
        vec![text("category"), opt_text("age_band"), flag("assault"), flag("weapon")]
    }
}

pub const CATEGORIES: &[&str] = &["c1", "c2", "c3", "c4", "c5"];
/// Bands, not ages: dispatch systems record an estimate for most patients.
pub const AGE_BANDS: &[&str] = &["0-9", "10-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"];

pub const CALLOUT_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("call_at", FieldType::DateTime),
    req("category", FieldType::OneOf(CATEGORIES)),
    opt("incident_lsoa", FieldType::Lsoa),
    opt("age_band", FieldType::OneOf(AGE_BANDS)),
    SEX,
    req("assault", FieldType::Flag),
    req("weapon", FieldType::Flag),
];

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, AmbulanceCallout), FieldError> {
    let call_at = row.datetime("call_at")?.expect("required");
    let assault = row.flag("assault")?;
    let weapon = row.flag("weapon")?;
    // A weapon is recorded for assaults only: elsewhere it is a keying slip
    // that would put a call-out in the weapon count of no assault.
    if weapon && !assault {
        return Err(row.error("weapon", "a weapon is recorded but the call-out is not an assault"));
    }
    let attributes = AmbulanceCallout { category: row.code("category")?.expect("required"), age_band: row.code("age_band")?, assault, weapon };
    let subject = Subject { id: None, role: None, age: None, sex: row.sex("sex")?, home_lsoa: None };
    let envelope = envelope(ctx, row, Kind::AmbulanceCallout, call_at, None, subject, row.text("incident_lsoa")?)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::parse_pairs;
    use crate::event::Attributes;
    use crate::extract::ExtractKind;

    #[test]
    fn callout_rows() {
        let row = [
            ("record_id", "CAD-1"),
            ("call_at", "2024-02-03 23:10"),
            ("category", "C2"),
            ("incident_lsoa", "e01000001"),
            ("age_band", "18-24"),
            ("sex", "F"),
            ("assault", "Y"),
            ("weapon", "N"),
        ];
        let e = parse_pairs(ExtractKind::AmbulanceCallouts, &row).unwrap();
        assert_eq!(e.envelope.event_lsoa.as_deref(), Some("E01000001"));
        assert_eq!((e.envelope.subject.as_deref(), e.envelope.age), (None, None));
        let Attributes::AmbulanceCallout(a) = e.attributes else { panic!() };
        assert_eq!((a.category.as_str(), a.age_band.as_deref(), a.assault, a.weapon), ("c2", Some("18-24"), true, false));

        let mut bad = row.to_vec();
        bad[7] = ("weapon", "Y");
        bad[6] = ("assault", "N");
        let err = parse_pairs(ExtractKind::AmbulanceCallouts, &bad).unwrap_err();
        assert_eq!((err.column, err.column_name.as_str()), (9, "weapon"), "{err}");
        let mut bad = row.to_vec();
        bad[4] = ("age_band", "17");
        assert!(parse_pairs(ExtractKind::AmbulanceCallouts, &bad).unwrap_err().reason.contains("not one of"));
        let mut bad = row.to_vec();
        bad[3] = ("incident_lsoa", "M1 1AE");
        assert!(parse_pairs(ExtractKind::AmbulanceCallouts, &bad).is_err());
    }
}
