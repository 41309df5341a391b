//! Police recorded crime (one row per offence and person role) and
//! anti-social behaviour incidents.

use super::common::{
    AGE, AGE_OF_CRIMINAL_RESPONSIBILITY, Context, HOME_LSOA, RECORD_ID, RECORD_VERSION, SEX, Subject, envelope, offence_code,
};
use crate::attributes::{TableAttributes, flag, opt_date, opt_text, text};
use crate::envelope::{Envelope, Role};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::Field;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One police-recorded offence as seen by one person in one role.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offence {
    pub crime_ref: String,
    pub offence_code: String,
    pub knife: bool,
    pub firearm: bool,
    pub domestic: bool,
    pub outcome: Option<String>,
    pub outcome_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AsbIncident {
    pub category: String,
}

impl TableAttributes for Offence {
    fn fields() -> Vec<Field> {
        vec![
            text("crime_ref"),
            text("offence_code"),
            flag("knife"),
            flag("firearm"),
            flag("domestic"),
            opt_text("outcome"),
            opt_date("outcome_date"),
        ]
    }
}

impl TableAttributes for AsbIncident {
    fn fields() -> Vec<Field> {
        vec![text("category")]
    }
}

pub const ROLES: &[&str] = &["victim", "suspect", "charged"];
pub const OUTCOMES: &[&str] =
    &["charged", "summonsed", "caution", "community_resolution", "no_further_action", "under_investigation", "other"];
pub const ASB_CATEGORIES: &[&str] = &["personal", "nuisance", "environmental"];

pub const OFFENCE_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("crime_ref", FieldType::Pseudonym),
    req("offence_code", FieldType::Text),
    req("committed_at", FieldType::DateTime),
    opt("recorded_date", FieldType::Date),
    req("offence_lsoa", FieldType::Lsoa),
    req("role", FieldType::OneOf(ROLES)),
    opt("person_id", FieldType::Pseudonym),
    AGE,
    SEX,
    HOME_LSOA,
    opt("knife_flag", FieldType::Flag),
    opt("firearm_flag", FieldType::Flag),
    opt("domestic_flag", FieldType::Flag),
    opt("outcome", FieldType::OneOf(OUTCOMES)),
    opt("outcome_date", FieldType::Date),
];

pub const ASB_COLUMNS: &[Column] = &[
    RECORD_ID,
    RECORD_VERSION,
    req("incident_at", FieldType::DateTime),
    req("lsoa", FieldType::Lsoa),
    req("category", FieldType::OneOf(ASB_CATEGORIES)),
];

pub fn parse_offence(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, Offence), FieldError> {
    let committed = row.datetime("committed_at")?.expect("required");
    let recorded = row.date("recorded_date")?;
    if let Some(r) = recorded
        && r < committed.date()
    {
        return Err(row.error("recorded_date", format!("{r} is before the offence was committed ({})", committed.date())));
    }
    let outcome_date = row.date("outcome_date")?;
    if let Some(o) = outcome_date
        && o < committed.date()
    {
        return Err(row.error("outcome_date", format!("{o} is before the offence was committed ({})", committed.date())));
    }
    let role = Role::parse(&row.code("role")?.expect("required"));
    if role == Some(Role::Charged)
        && let Some(age) = row.int("age")?
        && age < AGE_OF_CRIMINAL_RESPONSIBILITY
    {
        return Err(row.error(
            "age",
            format!(
                "{age} is under the age of criminal responsibility ({AGE_OF_CRIMINAL_RESPONSIBILITY}): no one that young can be charged"
            ),
        ));
    }
    let attributes = Offence {
        crime_ref: row.req_text("crime_ref")?,
        offence_code: offence_code(ctx, row, "offence_code")?,
        knife: row.flag("knife_flag")?,
        firearm: row.flag("firearm_flag")?,
        domestic: row.flag("domestic_flag")?,
        outcome: row.code("outcome")?,
        outcome_date,
    };
    let subject = Subject::read(row, "person_id", role)?;
    let recorded_at = recorded.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"));
    let lsoa = row.text("offence_lsoa")?;
    let envelope = envelope(ctx, row, Kind::Offence, committed, recorded_at, subject, lsoa)?;
    Ok((envelope, attributes))
}

pub fn parse_asb(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, AsbIncident), FieldError> {
    let at = row.datetime("incident_at")?.expect("required");
    let attributes = AsbIncident { category: row.code("category")?.expect("required") };
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let envelope = envelope(ctx, row, Kind::AsbIncident, at, None, nobody, row.text("lsoa")?)?;
    Ok((envelope, attributes))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{PSEUDO, parse_pairs};
    use crate::event::Attributes;
    use crate::extract::ExtractKind;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("record_id", "R1"),
            ("crime_ref", PSEUDO),
            ("offence_code", "34b"),
            ("committed_at", "2024-01-05 21:30"),
            ("offence_lsoa", "E01000001"),
            ("role", "Victim"),
            ("person_id", PSEUDO),
            ("age", "16"),
            ("sex", "male"),
            ("knife_flag", "Y"),
        ]
    }

    #[test]
    fn offence_row() {
        let e = parse_pairs(ExtractKind::PoliceOffences, &base()).unwrap();
        assert_eq!(e.envelope.age, Some(16));
        assert_eq!(e.envelope.record_version, 1);
        assert_eq!(e.envelope.role.map(|r| r.as_str()), Some("victim"));
        let Attributes::Offence(o) = e.attributes else { panic!() };
        assert_eq!(o.offence_code, "34B");
        assert!(o.knife && !o.firearm);
    }

    #[test]
    fn offence_errors_name_columns() {
        let mut r = base();
        r.retain(|(k, _)| *k != "offence_code");
        r.push(("offence_code", "99Z"));
        let e = parse_pairs(ExtractKind::PoliceOffences, &r).unwrap_err();
        assert_eq!((e.column, e.column_name.as_str()), (4, "offence_code"));
        assert!(e.reason.contains("not a Home Office offence code"), "{e}");

        let mut r = base();
        r.push(("outcome_date", "2024-01-01"));
        let e = parse_pairs(ExtractKind::PoliceOffences, &r).unwrap_err();
        assert_eq!(e.column_name, "outcome_date");
    }

    #[test]
    fn asb_row() {
        let e = parse_pairs(
            ExtractKind::PoliceAsb,
            &[("record_id", "A1"), ("incident_at", "2024-01-05T10:00:00"), ("lsoa", "E01000001"), ("category", "Nuisance")],
        )
        .unwrap();
        assert!(e.envelope.subject.is_none());
        assert_eq!(e.envelope.event_lsoa.as_deref(), Some("E01000001"));
    }
}
