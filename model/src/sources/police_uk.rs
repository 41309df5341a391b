//! Public street-level crime data in the data.police.uk format: no persons,
//! month only, locations snapped to anonymised points, anti-social
//! behaviour rows without a crime id, and a few rows located in
//! neighbouring forces' areas (kept: they are in the force's own figures).
//! Read with `vru ingest --format police-uk` or from a `police_uk-*`
//! landing folder; either way the partner is [`PUBLIC_PARTNER`], so the
//! same download never counts twice.
//!
//! Identity: a crime is its Crime ID, and a re-download whose outcome
//! changed is a new revision of it (see `Source::content_addressed`). An
//! anti-social behaviour row has no id, so it is named by what it says
//! (month, place, area, type) and its place among identical rows of the
//! file: re-downloading a month adds nothing, and three identical incidents
//! still count three times.

use super::common::{Context, Subject, envelope};
use crate::attributes::{TableAttributes, opt_text, text};
use crate::envelope::Envelope;
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::kinds::Kind;
use arrow_schema::{DataType, Field};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One row of data.police.uk street-level crime data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreetCrime {
    pub crime_id: Option<String>,
    pub month: String,
    pub reported_by: Option<String>,
    pub falls_within: Option<String>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub location: Option<String>,
    pub lsoa_name: Option<String>,
    /// Derived from the LSOA name: data.police.uk gives no area codes above LSOA.
    pub la_name: Option<String>,
    pub crime_type: String,
    pub last_outcome_category: Option<String>,
    pub context: Option<String>,
}

impl TableAttributes for StreetCrime {
    fn fields() -> Vec<Field> {
        vec![
            opt_text("crime_id"),
            text("month"),
            opt_text("reported_by"),
            opt_text("falls_within"),
            Field::new("longitude", DataType::Float64, true),
            Field::new("latitude", DataType::Float64, true),
            opt_text("location"),
            opt_text("lsoa_name"),
            opt_text("la_name"),
            text("crime_type"),
            opt_text("last_outcome_category"),
            opt_text("context"),
        ]
    }
}

/// The one partner name public data is ingested under.
pub const PUBLIC_PARTNER: &str = "police_uk-public";

/// Headers as published (`Crime ID`, `LSOA code`, ...), compared after
/// lower-casing and turning spaces into underscores.
pub const STREET_COLUMNS: &[Column] = &[
    opt("crime_id", FieldType::Id),
    req("month", FieldType::Text),
    opt("reported_by", FieldType::Text),
    opt("falls_within", FieldType::Text),
    opt("longitude", FieldType::Coordinate),
    opt("latitude", FieldType::Coordinate),
    opt("location", FieldType::FreeText),
    opt("lsoa_code", FieldType::Lsoa),
    opt("lsoa_name", FieldType::Text),
    req("crime_type", FieldType::Text),
    opt("last_outcome_category", FieldType::Text),
    opt("context", FieldType::FreeText),
];

/// The local authority an LSOA name belongs to: names are
/// `<local authority> <3 digits><letter>` ("Stockton-on-Tees 014C").
pub fn la_of_lsoa_name(name: &str) -> Option<&str> {
    let (la, suffix) = name.trim().rsplit_once(' ')?;
    let s = suffix.as_bytes();
    (s.len() == 4 && s[..3].iter().all(u8::is_ascii_digit) && s[3].is_ascii_uppercase()).then_some(la)
}

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<(Envelope, StreetCrime), FieldError> {
    let month = row.req_text("month")?;
    let first_day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| row.error("month", format!("`{}` is not a month (YYYY-MM)", crate::identifiers::shown(&month))))?;
    let first_day = row.check_date("month", first_day)?;
    let crime_id = row.text("crime_id")?;
    let lsoa_name = row.text("lsoa_name")?;
    let attributes = StreetCrime {
        crime_id: crime_id.clone(),
        month: month.clone(),
        reported_by: row.text("reported_by")?,
        falls_within: row.text("falls_within")?,
        longitude: row.coordinate("longitude")?,
        latitude: row.coordinate("latitude")?,
        location: row.text("location")?,
        la_name: lsoa_name.as_deref().and_then(la_of_lsoa_name).map(str::to_string),
        lsoa_name,
        crime_type: row.req_text("crime_type")?,
        last_outcome_category: row.text("last_outcome_category")?,
        context: row.text("context")?,
    };
    let record_id = match crime_id {
        Some(id) => id,
        None => {
            let key = asb_key(&attributes, row.text("lsoa_code")?.as_deref());
            format!("asb-{key:016x}-{}", ctx.occurrence(key))
        }
    };
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let mut env =
        envelope(ctx, row, Kind::StreetCrime, first_day.and_hms_opt(0, 0, 0).expect("midnight"), None, nobody, row.text("lsoa_code")?)?;
    // The event id is set from the content when the event is sealed.
    env.record_id = record_id;
    Ok((env, attributes))
}

/// What names an anti-social behaviour row: everything it says.
fn asb_key(s: &StreetCrime, lsoa: Option<&str>) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let coord = |c: Option<f64>| c.map(|v| format!("{v:.6}")).unwrap_or_default();
    for part in [
        s.month.as_str(),
        s.reported_by.as_deref().unwrap_or(""),
        s.falls_within.as_deref().unwrap_or(""),
        &coord(s.longitude),
        &coord(s.latitude),
        s.location.as_deref().unwrap_or(""),
        lsoa.unwrap_or(""),
        s.crime_type.as_str(),
        s.last_outcome_category.as_deref().unwrap_or(""),
        s.context.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Attributes;
    use crate::extract::ExtractKind;

    #[test]
    fn la_names() {
        assert_eq!(la_of_lsoa_name("Stockton-on-Tees 014C"), Some("Stockton-on-Tees"));
        assert_eq!(la_of_lsoa_name("Redcar and Cleveland 001A"), Some("Redcar and Cleveland"));
        assert_eq!(la_of_lsoa_name("Nowhere"), None);
    }

    #[test]
    fn street_rows() {
        use super::super::test_support::parse_pairs;
        let row = [
            ("month", "2022-03"),
            ("longitude", "-1.169239"),
            ("latitude", "54.500134"),
            ("lsoa_code", "E01027598"),
            ("lsoa_name", "Hambleton 002A"),
            ("crime_type", "Anti-social behaviour"),
        ];
        let e = parse_pairs(ExtractKind::StreetCrimes, &row).unwrap();
        assert!(e.envelope.record_id.starts_with("asb-") && e.envelope.record_id.ends_with("-1"), "{}", e.envelope.record_id);
        let Attributes::StreetCrime(s) = e.attributes else { panic!() };
        assert_eq!(s.la_name.as_deref(), Some("Hambleton"));
        let mut bad = row.to_vec();
        bad[0] = ("month", "March 2022");
        assert!(parse_pairs(ExtractKind::StreetCrimes, &bad).unwrap_err().reason.contains("YYYY-MM"));
    }

    /// Parses rows of one file in order, as the reader does.
    fn file(rows: &[Vec<(&str, &str)>]) -> Vec<crate::Event> {
        use crate::extract::{Header, Row};
        let kind = ExtractKind::StreetCrimes;
        let names: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
        let header = Header::check(kind, &names).unwrap();
        let cat = crate::classification::Catalogue::builtin();
        let ctx = Context::new(PUBLIC_PARTNER, "x", chrono::DateTime::from_timestamp(1_735_689_600, 0).unwrap(), &cat);
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        rows.iter()
            .enumerate()
            .map(|(i, pairs)| {
                let fields: Vec<&str> = names.iter().map(|n| pairs.iter().find(|(k, _)| k == n).map_or("", |(_, v)| *v)).collect();
                let row = Row { header: &header, fields: &fields, line: i as u64 + 2, today, extract_date: today, kind };
                crate::sources::parse(&ctx, &row).unwrap()
            })
            .collect()
    }

    #[test]
    fn identical_asb_rows_each_count_and_a_redownload_adds_nothing() {
        let asb = vec![
            ("month", "2022-03"),
            ("lsoa_code", "E01027598"),
            ("location", "On or near Oak Street"),
            ("crime_type", "Anti-social behaviour"),
        ];
        let other = vec![("month", "2022-03"), ("lsoa_code", "E01027599"), ("crime_type", "Anti-social behaviour")];
        let first = file(&[asb.clone(), other.clone(), asb.clone(), asb.clone()]);
        let ids: std::collections::HashSet<_> = first.iter().map(|e| e.envelope.event_id).collect();
        assert_eq!(ids.len(), 4, "three identical incidents are three incidents");
        // The same rows in another order of download: the same ids.
        let again = file(&[asb.clone(), asb.clone(), other, asb]);
        assert_eq!(again.iter().map(|e| e.envelope.event_id).collect::<std::collections::HashSet<_>>(), ids);
    }

    #[test]
    fn a_revised_outcome_is_a_new_revision_of_the_same_crime() {
        let crime =
            |outcome| vec![("crime_id", "abc123"), ("month", "2022-03"), ("crime_type", "Robbery"), ("last_outcome_category", outcome)];
        let before = &file(&[crime("Under investigation")])[0];
        let after = &file(&[crime("Offender given a caution")])[0];
        let same = &file(&[crime("Under investigation")])[0];
        assert_eq!(before.envelope.record_id, after.envelope.record_id);
        assert_ne!(before.envelope.event_id, after.envelope.event_id);
        assert_eq!(before.envelope.event_id, same.envelope.event_id);
        assert_eq!(before.envelope.partner, PUBLIC_PARTNER);
    }
}
