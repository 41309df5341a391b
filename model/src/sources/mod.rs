//! One module per partner source, each with the same shape: the columns of
//! its extract kinds (`*_COLUMNS`) and `parse`, which turns one checked row
//! into one event. Shared here: the envelope every source fills the same way.

pub mod ace;
pub mod ae;
pub mod commitments;
pub mod education;
pub mod police;
pub mod police_uk;
pub mod survey;
pub mod yjs;

use crate::classification::Catalogue;
use crate::event::{Envelope, Event, Kind, Role, Sex};
use crate::extract::{Column, ExtractKind, FieldError, FieldType, Row, opt, req};
use crate::ids::EventId;
use chrono::{DateTime, NaiveDateTime, Utc};

/// What the reader knows about the file a row came from.
pub struct Context<'a> {
    pub partner: &'a str,
    pub extract_id: &'a str,
    pub ingested_at: DateTime<Utc>,
    pub catalogue: &'a Catalogue,
    /// Rows met so far with the same content, for sources that name
    /// identical rows by their place among them (data.police.uk ASB).
    pub occurrences: std::cell::RefCell<std::collections::HashMap<u64, u32>>,
}

impl<'a> Context<'a> {
    pub fn new(partner: &'a str, extract_id: &'a str, ingested_at: DateTime<Utc>, catalogue: &'a Catalogue) -> Self {
        Context { partner, extract_id, ingested_at, catalogue, occurrences: Default::default() }
    }

    /// 1 for the first row with this key in the file, 2 for the next...
    pub fn occurrence(&self, key: u64) -> u32 {
        let mut m = self.occurrences.borrow_mut();
        let n = m.entry(key).or_insert(0);
        *n += 1;
        *n
    }
}

pub(crate) const RECORD_ID: Column = req("record_id", FieldType::Id);
/// Optional: a partner that never corrects a row need not send it; a
/// corrected row is re-sent with a higher version and becomes a new event.
pub(crate) const RECORD_VERSION: Column = opt("record_version", FieldType::Int { min: 1, max: 1_000_000 });
pub(crate) const AGE: Column = opt("age", FieldType::Int { min: 0, max: 120 });
pub(crate) const SEX: Column = opt("sex", FieldType::Sex);
/// Where the person lives: anywhere in the UK, so a victim from Scotland
/// is kept (and counted as from outside the area), not refused.
pub(crate) const HOME_LSOA: Column = opt("home_lsoa", FieldType::SmallArea);
/// England and Wales: no child under 10 can be charged or sentenced.
pub const AGE_OF_CRIMINAL_RESPONSIBILITY: i64 = 10;

pub fn columns(kind: ExtractKind) -> &'static [Column] {
    match kind {
        ExtractKind::PoliceOffences => police::OFFENCE_COLUMNS,
        ExtractKind::PoliceAsb => police::ASB_COLUMNS,
        ExtractKind::AeAttendances => ae::ATTENDANCE_COLUMNS,
        ExtractKind::YjOutcomes => yjs::OUTCOME_COLUMNS,
        ExtractKind::SchoolCensus => education::CENSUS_COLUMNS,
        ExtractKind::Suspensions => education::SUSPENSION_COLUMNS,
        ExtractKind::Exclusions => education::EXCLUSION_COLUMNS,
        ExtractKind::ApPlacements => education::AP_COLUMNS,
        ExtractKind::Neet => education::NEET_COLUMNS,
        ExtractKind::AceScreenings => ace::SCREENING_COLUMNS,
        ExtractKind::SurveyResponses => survey::RESPONSE_COLUMNS,
        ExtractKind::Commitments => commitments::COMMITMENT_COLUMNS,
        ExtractKind::StreetCrimes => police_uk::STREET_COLUMNS,
    }
}

/// Turns one row into one event, or names the first bad field.
pub fn parse(ctx: &Context<'_>, row: &Row<'_>) -> Result<Event, FieldError> {
    let event = match row.kind {
        ExtractKind::PoliceOffences => police::parse_offence(ctx, row),
        ExtractKind::PoliceAsb => police::parse_asb(ctx, row),
        ExtractKind::AeAttendances => ae::parse(ctx, row),
        ExtractKind::YjOutcomes => yjs::parse(ctx, row),
        ExtractKind::AceScreenings => ace::parse(ctx, row),
        ExtractKind::SurveyResponses => survey::parse(ctx, row),
        ExtractKind::Commitments => commitments::parse(ctx, row),
        ExtractKind::StreetCrimes => police_uk::parse(ctx, row),
        // Every kind by name: a new kind must choose its parser here.
        ExtractKind::SchoolCensus | ExtractKind::Suspensions | ExtractKind::Exclusions | ExtractKind::ApPlacements | ExtractKind::Neet => {
            education::parse(ctx, row)
        }
    }?;
    Ok(event.seal())
}

/// The person a row is about, as its source names them.
pub(crate) struct Subject {
    pub id: Option<String>,
    pub role: Option<Role>,
    pub age: Option<u8>,
    pub sex: Option<Sex>,
    pub home_lsoa: Option<String>,
}

impl Subject {
    /// Reads the shared person columns; `id_column` differs by source.
    pub fn read(row: &Row<'_>, id_column: &str, role: Option<Role>) -> Result<Self, FieldError> {
        Ok(Subject {
            id: row.text(id_column)?,
            role,
            age: row.int("age")?.map(|a| a as u8),
            sex: row.sex("sex")?,
            home_lsoa: if row.declared("home_lsoa") { row.text("home_lsoa")? } else { None },
        })
    }
}

pub(crate) fn envelope(
    ctx: &Context<'_>,
    row: &Row<'_>,
    kind: Kind,
    occurred_at: NaiveDateTime,
    recorded_at: Option<NaiveDateTime>,
    subject: Subject,
    event_lsoa: Option<String>,
) -> Result<Envelope, FieldError> {
    // Sources without a record id (data.police.uk) set their own after.
    let record_id = if row.declared("record_id") { row.req_text("record_id")? } else { String::new() };
    let record_version = if row.declared("record_version") { row.int("record_version")?.unwrap_or(1) as u32 } else { 1 };
    let source = kind.table().source();
    Ok(Envelope {
        event_id: EventId::derive(source.as_str(), ctx.partner, &record_id, record_version),
        source,
        kind,
        partner: ctx.partner.to_string(),
        record_id,
        record_version,
        occurred_at,
        recorded_at,
        ingested_at: ctx.ingested_at,
        extract_id: ctx.extract_id.to_string(),
        subject: subject.id,
        role: subject.role,
        age: subject.age,
        sex: subject.sex,
        home_lsoa: subject.home_lsoa,
        event_lsoa,
        content_hash: None,
    })
}

/// Offence codes are checked against the versioned catalogue: an unknown code
/// would silently fall out of every measure.
pub(crate) fn offence_code(ctx: &Context<'_>, row: &Row<'_>, name: &str) -> Result<String, FieldError> {
    let code = row.req_text(name)?.to_ascii_uppercase();
    if ctx.catalogue.get(&code).is_none() {
        return Err(row.error(
            name,
            format!("`{}` is not a Home Office offence code in catalogue {}", crate::identifiers::shown(&code), ctx.catalogue.version),
        ));
    }
    Ok(code)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::extract::Header;
    use chrono::NaiveDate;

    pub fn catalogue() -> Catalogue {
        Catalogue::builtin()
    }

    /// Parses one row given as `column=value` pairs, all other columns blank.
    pub fn parse_pairs(kind: ExtractKind, pairs: &[(&str, &str)]) -> Result<Event, FieldError> {
        let names: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
        let header = Header::check(kind, &names).unwrap();
        let fields: Vec<&str> = names.iter().map(|n| pairs.iter().find(|(k, _)| k == n).map_or("", |(_, v)| *v)).collect();
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let row = Row { header: &header, fields: &fields, line: 7, today, extract_date: today, kind };
        let cat = catalogue();
        let ctx = Context::new("p", "x", DateTime::from_timestamp(1_735_689_600, 0).unwrap(), &cat);
        // As the reader does: screened for identifiers, then parsed.
        row.screen(&mut crate::identifiers::profile::FileProfile::default())?;
        parse(&ctx, &row)
    }

    pub const PSEUDO: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
}
