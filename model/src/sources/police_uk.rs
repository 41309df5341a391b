//! Public street-level crime data in the data.police.uk format: no persons,
//! month only, locations snapped to anonymised points, anti-social
//! behaviour rows without a crime id, and a few rows located in
//! neighbouring forces' areas (kept: they are in the force's own figures).
//! Read with `vru ingest --format police-uk`.

use super::{Context, Subject, envelope};
use crate::event::{Attributes, Event, Kind, StreetCrime};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use chrono::NaiveDate;

/// Headers as published (`Crime ID`, `LSOA code`, ...), compared after
/// lower-casing and turning spaces into underscores.
pub const STREET_COLUMNS: &[Column] = &[
    opt("crime_id", FieldType::Text),
    req("month", FieldType::Text),
    opt("reported_by", FieldType::Text),
    opt("falls_within", FieldType::Text),
    opt("longitude", FieldType::Coordinate),
    opt("latitude", FieldType::Coordinate),
    opt("location", FieldType::Text),
    opt("lsoa_code", FieldType::Lsoa),
    opt("lsoa_name", FieldType::Text),
    req("crime_type", FieldType::Text),
    opt("last_outcome_category", FieldType::Text),
    opt("context", FieldType::Text),
];

/// The local authority an LSOA name belongs to: names are
/// `<local authority> <3 digits><letter>` ("Stockton-on-Tees 014C").
pub fn la_of_lsoa_name(name: &str) -> Option<&str> {
    let (la, suffix) = name.trim().rsplit_once(' ')?;
    let s = suffix.as_bytes();
    (s.len() == 4 && s[..3].iter().all(u8::is_ascii_digit) && s[3].is_ascii_uppercase()).then_some(la)
}

pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<Event, FieldError> {
    let month = row.req_text("month")?;
    let first_day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| row.error("month", format!("`{month}` is not a month (YYYY-MM)")))?;
    let first_day = row.check_date("month", first_day)?;
    let crime_id = row.text("crime_id")?;
    let lsoa_name = row.text("lsoa_name")?;
    let attributes = Attributes::StreetCrime(StreetCrime {
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
    });
    // Crimes have a stable id; anti-social behaviour rows have none, so the
    // file and line name them (re-sending the same file gives the same ids).
    let record_id = crime_id.unwrap_or_else(|| format!("{}:{}", &ctx.extract_id[..ctx.extract_id.len().min(16)], row.line));
    let nobody = Subject { id: None, role: None, age: None, sex: None, home_lsoa: None };
    let mut env =
        envelope(ctx, row, Kind::StreetCrime, first_day.and_hms_opt(0, 0, 0).expect("midnight"), None, nobody, row.text("lsoa_code")?)?;
    env.record_id = record_id;
    env.event_id = crate::ids::EventId::derive(env.source.as_str(), ctx.partner, &env.record_id, 1);
    Ok(Event { envelope: env, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(e.envelope.record_id.ends_with(":7"), "{}", e.envelope.record_id);
        let Attributes::StreetCrime(s) = e.attributes else { panic!() };
        assert_eq!(s.la_name.as_deref(), Some("Hambleton"));
        let mut bad = row.to_vec();
        bad[0] = ("month", "March 2022");
        assert!(parse_pairs(ExtractKind::StreetCrimes, &bad).unwrap_err().reason.contains("YYYY-MM"));
    }
}
