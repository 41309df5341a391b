//! What every source fills the same way: the file's context, the shared
//! person columns and the envelope.

use crate::classification::Catalogue;
use crate::envelope::{Envelope, Role, Sex};
use crate::extract::{Column, FieldError, FieldType, Row, opt, req};
use crate::ids::EventId;
use crate::kinds::Kind;
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
