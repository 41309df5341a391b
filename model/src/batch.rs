//! Events to an Arrow batch of their table, the normaliser's hottest step
//! after decoding. The envelope's seventeen columns (its timestamps above
//! all) are built straight from the typed fields; only the few attribute
//! columns, whose types each source declares, go through serde into
//! arrow-json's decoder. Serialising whole rows that way formatted every
//! timestamp as text and parsed it back: 8 us a row, a quarter of the
//! normaliser's time on the 10x city.

use crate::attributes::TableAttributes;
use crate::event::{Attributes, Event};
use crate::kinds::Table;
use arrow_array::builder::{Int32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, Schema};
use serde::{Serialize, Serializer};
use std::sync::Arc;

macro_rules! attribute_rows {
    (
        sources: $sources:tt
        tables: [$($table:ident $table_name:literal $attr:ident $module:ident $ty:ident $source:ident)+]
        $($rest:tt)*
    ) => {
        impl Serialize for AttributeRow<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match &self.0.attributes {
                    $(Attributes::$attr(a) => a.row().serialize(s),)+
                }
            }
        }
    };
}

crate::sources::registry::registry!(attribute_rows);

/// What an event writes after its envelope ([`TableAttributes::row`]).
pub(crate) struct AttributeRow<'a>(pub(crate) &'a Event);

/// The number of envelope columns before the attributes: the schema's
/// first columns, in this order ([`crate::tables`]'s `envelope_fields`).
const ENVELOPE_COLUMNS: usize = 16;

/// Lays events of one table out as an Arrow batch with the table's schema.
/// Every event must belong to `table`; the caller routes them.
pub fn to_record_batch(table: Table, events: &[&Event]) -> Result<RecordBatch, ArrowError> {
    let schema = table.schema();
    if let Some(e) = events.iter().find(|e| e.table() != table) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "event {} of kind {} routed to table {}",
            e.envelope.event_id,
            e.envelope.kind,
            table.name()
        )));
    }
    let mut columns = envelope_columns(events)?;
    debug_assert_eq!(columns.len(), ENVELOPE_COLUMNS);
    columns.extend(attribute_columns(&schema, events)?);
    let mut hash = StringBuilder::with_capacity(events.len(), events.len() * 16);
    for e in events {
        hash.append_option(e.envelope.content_hash.as_deref());
    }
    columns.push(Arc::new(hash.finish()));
    RecordBatch::try_new_with_options(schema, columns, &RecordBatchOptions::new().with_row_count(Some(events.len())))
}

/// The envelope columns, typed as `envelope_fields` declares them.
fn envelope_columns(events: &[&Event]) -> Result<Vec<ArrayRef>, ArrowError> {
    let n = events.len();
    let text = |bytes_each: usize| StringBuilder::with_capacity(n, n * bytes_each);
    let (mut event_id, mut source, mut kind, mut partner, mut record_id) = (text(32), text(8), text(12), text(24), text(24));
    let mut record_version = Int32Builder::with_capacity(n);
    let mut occurred_at = TimestampMicrosecondBuilder::with_capacity(n);
    let mut recorded_at = TimestampMicrosecondBuilder::with_capacity(n);
    let mut ingested_at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut extract_id, mut subject, mut role) = (text(64), text(64), text(8));
    let mut age = Int32Builder::with_capacity(n);
    let (mut sex, mut home_lsoa, mut event_lsoa) = (text(1), text(9), text(9));
    let mut hex = [0u8; 32];
    for e in events {
        let e = &e.envelope;
        hex::encode_to_slice(e.event_id.as_bytes(), &mut hex).expect("32 hex digits for 16 bytes");
        event_id.append_value(std::str::from_utf8(&hex).expect("hex is ASCII"));
        source.append_value(e.source.as_str());
        kind.append_value(e.kind.as_str());
        partner.append_value(&e.partner);
        record_id.append_value(&e.record_id);
        let version = i32::try_from(e.record_version).map_err(|_| {
            ArrowError::InvalidArgumentError(format!(
                "event {}: record_version {} is over the column's range",
                e.event_id, e.record_version
            ))
        })?;
        record_version.append_value(version);
        occurred_at.append_value(e.occurred_at.and_utc().timestamp_micros());
        recorded_at.append_option(e.recorded_at.map(|t| t.and_utc().timestamp_micros()));
        ingested_at.append_value(e.ingested_at.timestamp_micros());
        extract_id.append_value(&e.extract_id);
        subject.append_option(e.subject.as_deref());
        role.append_option(e.role.map(|r| r.as_str()));
        age.append_option(e.age.map(i32::from));
        sex.append_option(e.sex.map(|s| s.as_str()));
        home_lsoa.append_option(e.home_lsoa.as_deref());
        event_lsoa.append_option(e.event_lsoa.as_deref());
    }
    Ok(vec![
        Arc::new(event_id.finish()),
        Arc::new(source.finish()),
        Arc::new(kind.finish()),
        Arc::new(partner.finish()),
        Arc::new(record_id.finish()),
        Arc::new(record_version.finish()),
        Arc::new(occurred_at.finish()),
        Arc::new(recorded_at.finish()),
        Arc::new(ingested_at.finish()),
        Arc::new(extract_id.finish()),
        Arc::new(subject.finish()),
        Arc::new(role.finish()),
        Arc::new(age.finish()),
        Arc::new(sex.finish()),
        Arc::new(home_lsoa.finish()),
        Arc::new(event_lsoa.finish()),
    ])
}

/// The attribute columns, through serde and arrow-json's decoder (strict:
/// a field the schema does not name is an error, not a dropped value).
fn attribute_columns(schema: &Schema, events: &[&Event]) -> Result<Vec<ArrayRef>, ArrowError> {
    let fields = &schema.fields()[ENVELOPE_COLUMNS..schema.fields().len() - 1];
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let attributes = Arc::new(Schema::new(fields.to_vec()));
    let mut decoder =
        arrow_json::ReaderBuilder::new(attributes).with_batch_size(events.len().max(1)).with_strict_mode(true).build_decoder()?;
    let rows: Vec<AttributeRow<'_>> = events.iter().map(|e| AttributeRow(e)).collect();
    decoder.serialize(&rows)?;
    Ok(match decoder.flush()? {
        Some(batch) => batch.columns().to_vec(),
        None => RecordBatch::new_empty(Arc::new(Schema::new(fields.to_vec()))).columns().to_vec(),
    })
}
