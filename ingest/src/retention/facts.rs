//! What the planner reads from the lake: each record's latest dates and
//! subject with all its event ids, and each person's last event date.
//! Streams: DataFusion groups the versions, and only the records a run
//! erases are kept (as event ids), so memory does not grow with the table
//! beyond the grouping itself and one small entry per person.

use crate::lake::{self, Lake, LakeError, strings};
use chrono::{DateTime, NaiveDate, Utc};
use deltalake::arrow::array::{Array, Date32Array, Int64Array, ListArray, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use vru_model::ids::EventId;
use vru_model::tables::Table;

/// The latest version's fields, as one expression list: the current
/// state's ordering (`vru_queries::session`), its tie on version and
/// ingestion time broken by event id as there, so retention judges a
/// record by the version analysts see.
const LATEST: &str = "ORDER BY record_version DESC, ingested_at DESC, event_id DESC";

/// One record as the planner sees it.
pub struct Record<'a> {
    pub partner: &'a str,
    pub record_id: &'a str,
    pub subject: Option<&'a str>,
    pub occurred: NaiveDate,
    pub recorded: Option<NaiveDate>,
    pub events: &'a [EventId],
    pub extracts: &'a [String],
    pub first_ingested: Option<DateTime<Utc>>,
}

/// A person's key in memory: the pseudonym's 32 bytes (its hash, for a
/// value that is not one), never written anywhere.
pub type PersonKey = [u8; 32];

pub fn person_key(subject: &str) -> PersonKey {
    let mut k = [0u8; 32];
    if subject.len() == 64 && hex::decode_to_slice(subject, &mut k).is_ok() {
        return k;
    }
    use sha2::{Digest, Sha256};
    k.copy_from_slice(&Sha256::digest(subject.as_bytes()));
    k
}

/// Each person's last event date in some tables.
#[derive(Default)]
pub struct PersonDates(HashMap<PersonKey, NaiveDate>);

impl PersonDates {
    pub fn get(&self, subject: &str) -> Option<NaiveDate> {
        self.0.get(&person_key(subject)).copied()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn qerr(name: &str) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> LakeError + '_ {
    move |source| LakeError::Query { table: name.to_string(), source: Box::new(source) }
}

fn invalid(name: &str, reason: impl ToString) -> LakeError {
    LakeError::Invalid { table: name.to_string(), reason: reason.to_string() }
}

fn dates(batch: &RecordBatch, i: usize, name: &str) -> Result<Date32Array, LakeError> {
    let c = cast(batch.column(i), &DataType::Date32).map_err(|e| invalid(name, e))?;
    Ok(c.as_any().downcast_ref::<Date32Array>().expect("cast to Date32").clone())
}

/// The last event date of every person in `tables` (current state of
/// each record), for extending retention by a later event.
pub async fn person_dates(lake: &Lake, tables: &[Table]) -> Result<PersonDates, LakeError> {
    let mut out = PersonDates::default();
    for t in tables {
        let name = t.name();
        let Some(table) = lake.open(name).await? else { continue };
        let sql = format!(
            "SELECT s, max(d) FROM (SELECT first_value(subject {LATEST}) AS s, first_value(CAST(occurred_at AS DATE) {LATEST}) AS d \
             FROM t GROUP BY partner, record_id) x WHERE s IS NOT NULL GROUP BY s"
        );
        let mut stream = lake::query(&table, name, &sql).await?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(qerr(name))?;
            let (s, d) = (strings(&batch, 0, name)?, dates(&batch, 1, name)?);
            for i in 0..s.len() {
                if s.is_null(i) || d.is_null(i) {
                    continue;
                }
                let Some(date) = d.value_as_date(i) else { continue };
                let e = out.0.entry(person_key(s.value(i))).or_insert(date);
                *e = (*e).max(date);
            }
        }
    }
    Ok(out)
}

fn list_strings(batch: &RecordBatch, i: usize, name: &str) -> Result<ListArray, LakeError> {
    let to = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let c = cast(batch.column(i), &to).map_err(|e| invalid(name, e))?;
    Ok(c.as_any().downcast_ref::<ListArray>().expect("cast to List<Utf8>").clone())
}

/// Calls `f` with every record of `table`, all versions grouped, skipping
/// records whose every event is in `pending` (already made non-searchable
/// by an unfinished run). `partner`: only that partner's records.
pub async fn for_each_record(
    lake: &Lake,
    t: Table,
    pending: &HashSet<EventId>,
    partner: Option<&str>,
    f: &mut (dyn FnMut(&Record<'_>) + Send),
) -> Result<(), LakeError> {
    let name = t.name();
    let Some(table) = lake.open(name).await? else { return Ok(()) };
    let filter = partner.map_or(String::new(), |p| format!(" WHERE partner = '{}'", p.replace('\'', "''")));
    let sql = format!(
        "SELECT partner, record_id, first_value(subject {LATEST}), first_value(CAST(occurred_at AS DATE) {LATEST}), \
         first_value(CAST(recorded_at AS DATE) {LATEST}), array_agg(event_id), array_agg(DISTINCT extract_id), \
         CAST(min(ingested_at) AS BIGINT) FROM t{filter} GROUP BY partner, record_id"
    );
    let mut stream = lake::query(&table, name, &sql).await?;
    let mut events = Vec::new();
    let mut extracts = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(qerr(name))?;
        let (partners, ids, subjects) = (strings(&batch, 0, name)?, strings(&batch, 1, name)?, strings(&batch, 2, name)?);
        let (occurred, recorded) = (dates(&batch, 3, name)?, dates(&batch, 4, name)?);
        let (ev, ex) = (list_strings(&batch, 5, name)?, list_strings(&batch, 6, name)?);
        let first = cast(batch.column(7), &DataType::Int64).map_err(|e| invalid(name, e))?;
        let first = first.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
        for i in 0..batch.num_rows() {
            let Some(occurred) = occurred.value_as_date(i).filter(|_| !occurred.is_null(i)) else {
                return Err(invalid(name, "a record without occurred_at"));
            };
            events.clear();
            let list = ev.value(i);
            let list = list.as_any().downcast_ref::<StringArray>().expect("List<Utf8>");
            events.extend((0..list.len()).filter_map(|j| EventId::parse(list.value(j))));
            if !pending.is_empty() && events.iter().all(|e| pending.contains(e)) {
                continue;
            }
            extracts.clear();
            let list = ex.value(i);
            let list = list.as_any().downcast_ref::<StringArray>().expect("List<Utf8>");
            extracts.extend((0..list.len()).filter(|j| !list.is_null(*j)).map(|j| list.value(j).to_string()));
            let r = Record {
                partner: partners.value(i),
                record_id: ids.value(i),
                subject: (!subjects.is_null(i)).then(|| subjects.value(i)),
                occurred,
                recorded: (!recorded.is_null(i)).then(|| recorded.value_as_date(i)).flatten(),
                events: &events,
                extracts: &extracts,
                first_ingested: (!first.is_null(i)).then(|| DateTime::from_timestamp_micros(first.value(i))).flatten(),
            };
            f(&r);
        }
    }
    Ok(())
}

/// Events of `partner` in `t` whose record id, or extract, is listed:
/// what a withdrawal names. Returns (record id, event id, extract id,
/// ingested at) per event.
pub async fn partner_events(
    lake: &Lake,
    t: Table,
    partner: &str,
    record_ids: &HashSet<String>,
    extracts: &HashSet<String>,
) -> Result<Vec<(String, EventId, String, Option<DateTime<Utc>>)>, LakeError> {
    let name = t.name();
    let Some(table) = lake.open(name).await? else { return Ok(Vec::new()) };
    let sql = format!(
        "SELECT record_id, event_id, extract_id, CAST(ingested_at AS BIGINT) FROM t WHERE partner = '{}'",
        partner.replace('\'', "''")
    );
    let mut stream = lake::query(&table, name, &sql).await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(qerr(name))?;
        let (r, e, x) = (strings(&batch, 0, name)?, strings(&batch, 1, name)?, strings(&batch, 2, name)?);
        let at = cast(batch.column(3), &DataType::Int64).map_err(|e| invalid(name, e))?;
        let at = at.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
        for i in 0..batch.num_rows() {
            if (record_ids.contains(r.value(i)) || extracts.contains(x.value(i)))
                && let Some(id) = EventId::parse(e.value(i))
            {
                let when = (!at.is_null(i)).then(|| DateTime::from_timestamp_micros(at.value(i))).flatten();
                out.push((r.value(i).to_string(), id, x.value(i).to_string(), when));
            }
        }
    }
    Ok(out)
}

/// SHA-256 of every extract the lake holds an accepted receipt for from
/// `partner`: the extracts it may withdraw.
pub async fn partner_extracts(lake: &Lake, partner: &str) -> Result<HashSet<String>, LakeError> {
    let name = Table::ExtractReceipts.name();
    let Some(table) = lake.open(name).await? else { return Ok(HashSet::new()) };
    let sql = format!(
        "SELECT record_id FROM t WHERE partner = '{}' AND status IN ('accepted', 'accepted_with_rejections')",
        partner.replace('\'', "''")
    );
    let mut stream = lake::query(&table, name, &sql).await?;
    let mut out = HashSet::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(qerr(name))?;
        let ids = strings(&batch, 0, name)?;
        out.extend((0..ids.len()).map(|i| ids.value(i).to_string()));
    }
    Ok(out)
}
