//! The lake's tables: one per event family, plus reference tables. Every
//! event table starts with the same envelope columns so analysts can union
//! them and the normaliser can treat them alike.

use crate::attributes::TableAttributes;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;
#[cfg(test)]
use {
    crate::event::{Attributes, Envelope, Event},
    arrow_array::RecordBatch,
    arrow_schema::ArrowError,
    serde::{Serialize, Serializer},
};

pub use crate::attributes::local_timestamp;
pub use crate::batch::to_record_batch;
pub use crate::kinds::Table;
pub use crate::sources::ace::ACE_INDICATORS;

macro_rules! table_rows {
    (
        sources: $sources:tt
        tables: [$($table:ident $table_name:literal $attr:ident $module:ident $ty:ident $source:ident)+]
        $($rest:tt)*
    ) => {
        impl Table {
            /// The columns after the envelope: the attribute type's own.
            fn attribute_fields(&self) -> Vec<Field> {
                match self {
                    $(Table::$table => <crate::sources::$module::$ty as TableAttributes>::fields(),)+
                }
            }
        }

        #[cfg(test)]
        impl Serialize for ArrowRow<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let envelope = &self.0.envelope;
                match &self.0.attributes {
                    $(Attributes::$attr(a) => Flat { envelope, attributes: a.row() }.serialize(s),)+
                }
            }
        }

        /// One blank event of every table, for tests that go through them all.
        #[cfg(test)]
        fn blank_events() -> Vec<(Table, Attributes)> {
            vec![$((Table::$table, Attributes::$attr(Default::default())),)+]
        }
    };
}

crate::sources::registry::registry!(table_rows);

impl Table {
    /// Columns that identify a record across versions: analysts' current-state
    /// views keep the highest `record_version` per key.
    pub fn record_key(&self) -> &'static [&'static str] {
        &["partner", "record_id"]
    }

    /// Envelope, attributes, then `content_hash` last: it came later, and a
    /// column added at the end is how Delta evolves an existing table.
    pub fn schema(&self) -> SchemaRef {
        let mut fields = envelope_fields();
        fields.extend(self.attribute_fields());
        fields.push(Field::new("content_hash", DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    }

    /// The same columns, all nullable. Test fixtures insert only the columns a
    /// measure reads (and `event_id`, which the current state joins on);
    /// production tables keep the strict schema.
    pub fn relaxed_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        Arc::new(Schema::new(fields))
    }
}

fn envelope_fields() -> Vec<Field> {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let os = |n: &str| Field::new(n, DataType::Utf8, true);
    vec![
        s("event_id"),
        s("source"),
        s("kind"),
        s("partner"),
        s("record_id"),
        Field::new("record_version", DataType::Int32, false),
        Field::new("occurred_at", local_timestamp(), false),
        Field::new("recorded_at", local_timestamp(), true),
        Field::new("ingested_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        s("extract_id"),
        os("subject"),
        os("role"),
        Field::new("age", DataType::Int32, true),
        os("sex"),
        os("home_lsoa"),
        os("event_lsoa"),
    ]
}

/// The flat row an event becomes in its table: envelope then attributes
/// (`content_hash` is the envelope's last field and the table's last
/// column). The normaliser builds batches column by column
/// ([`to_record_batch`]); the tests check that it builds what serde and
/// arrow-json build from this row.
#[cfg(test)]
struct ArrowRow<'a>(&'a Event);

#[cfg(test)]
#[derive(Serialize)]
struct Flat<'a, A: Serialize> {
    #[serde(flatten)]
    envelope: &'a Envelope,
    #[serde(flatten)]
    attributes: A,
}

/// Whole rows through serde and arrow-json: the reference
/// [`to_record_batch`] must agree with.
#[cfg(test)]
fn to_record_batch_through_json(table: Table, events: &[&Event]) -> Result<RecordBatch, ArrowError> {
    let mut decoder =
        arrow_json::ReaderBuilder::new(table.schema()).with_batch_size(events.len().max(1)).with_strict_mode(true).build_decoder()?;
    let rows: Vec<ArrowRow<'_>> = events.iter().map(|e| ArrowRow(e)).collect();
    decoder.serialize(&rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(table.schema())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use arrow_array::{Array, BooleanArray, StringArray, TimestampMicrosecondArray};

    #[test]
    fn every_kind_has_a_table_with_envelope_first() {
        for k in Kind::ALL {
            let schema = k.table().schema();
            assert_eq!(schema.field(0).name(), "event_id");
            assert_eq!(k.table().source().as_str(), k.table().source().to_string());
        }
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(*t));
            assert!(t.relaxed_schema().fields().iter().all(|f| f.is_nullable()));
        }
    }

    #[test]
    fn offence_to_batch() {
        let e = crate::event::tests::sample();
        let batch = to_record_batch(Table::PoliceOffences, &[&e, &e]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), Table::PoliceOffences.schema());
        let code = batch.column_by_name("offence_code").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(code.value(0), "34B");
        let knife = batch.column_by_name("knife").unwrap().as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(knife.value(1));
        let at = batch.column_by_name("occurred_at").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!(at.value(0), 1_682_979_300_000_000); // 2023-05-01 22:15:00 as wall clock
        assert!(batch.column_by_name("outcome_date").unwrap().is_null(0));
    }

    /// The attribute types and the table schemas are written separately
    /// (one as Rust fields, one as Arrow fields): they must name the same
    /// columns, or the normaliser fails on the first event of a new source.
    #[test]
    fn every_table_row_has_exactly_the_schema_columns() {
        let blank = blank_events();
        assert_eq!(blank.len(), Table::ALL.len());
        for (table, attributes) in blank {
            let mut e = crate::event::tests::sample();
            e.envelope.kind = *Kind::ALL.iter().find(|k| k.table() == table).expect("a kind");
            e.attributes = attributes;
            let row = serde_json::to_value(ArrowRow(&e)).unwrap();
            let mut keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            let schema = table.schema();
            let mut fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            fields.sort();
            assert_eq!(keys, fields, "{}", table.name());
            let batch = to_record_batch(table, &[&e]).unwrap_or_else(|err| panic!("{}: {err}", table.name()));
            assert_eq!(batch.schema(), schema);
        }
    }

    /// The column-by-column batch is what whole rows through serde and
    /// arrow-json give, for every table and any envelope: text of any
    /// script, absent optional fields, times before 1970 and far ahead,
    /// the largest version.
    #[test]
    fn batches_built_by_column_equal_batches_through_json() {
        use crate::envelope::{Role, Sex};
        use chrono::{DateTime, NaiveDate};
        use proptest::prelude::*;
        let text = "\\PC{0,12}";
        let envelope = (
            (text, text, text, 0u32..=i32::MAX as u32, -800_000i64..80_000, proptest::option::of(0i64..40_000)),
            (0i64..4_000_000_000, proptest::option::of(text), proptest::option::of(0usize..6), proptest::option::of(any::<u8>())),
            (proptest::option::of(0usize..3), proptest::option::of(text), proptest::option::of(text), proptest::option::of("[0-9a-f]{16}")),
        );
        let roles = [Role::Victim, Role::Suspect, Role::Charged, Role::Patient, Role::Child, Role::Pupil];
        let sexes = [Sex::Male, Sex::Female, Sex::Unknown];
        let minutes =
            |m: i64| NaiveDate::from_ymd_opt(1970, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::minutes(m * 37);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
        for (table, attributes) in blank_events() {
            let kind = *Kind::ALL.iter().find(|k| k.table() == table).expect("a kind");
            let events = proptest::collection::vec(envelope.clone(), 1..6);
            runner
                .run(&events, |envelopes| {
                    let events: Vec<Event> = envelopes
                        .into_iter()
                        .map(
                            |(
                                (partner, record, extract, version, occurred, recorded),
                                (ingested, subject, role, age),
                                (sex, home, at, hash),
                            )| {
                                let mut e = crate::event::tests::sample();
                                let env = &mut e.envelope;
                                (env.kind, env.source, env.partner, env.record_id, env.extract_id) =
                                    (kind, table.source(), partner, record, extract);
                                env.record_version = version;
                                env.occurred_at = minutes(occurred);
                                env.recorded_at = recorded.map(minutes);
                                env.ingested_at = DateTime::from_timestamp(ingested, 123_456_000).unwrap();
                                (env.subject, env.role, env.age) = (subject, role.map(|r| roles[r]), age);
                                (env.sex, env.home_lsoa, env.event_lsoa, env.content_hash) = (sex.map(|s| sexes[s]), home, at, hash);
                                e.attributes = attributes.clone();
                                e
                            },
                        )
                        .collect();
                    let refs: Vec<&Event> = events.iter().collect();
                    let direct = to_record_batch(table, &refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let reference = to_record_batch_through_json(table, &refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(direct, reference, "{}", table.name());
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{}: {e}", table.name()));
        }
    }

    #[test]
    fn a_version_past_the_column_is_refused() {
        let mut e = crate::event::tests::sample();
        e.envelope.record_version = u32::MAX;
        let err = to_record_batch(Table::PoliceOffences, &[&e]).unwrap_err();
        assert!(err.to_string().contains("record_version"), "{err}");
    }

    #[test]
    fn wrong_table_refused() {
        let e = crate::event::tests::sample();
        assert!(to_record_batch(Table::PoliceAsb, &[&e]).is_err());
    }
}

/// Reference tables: areas and denominators, loaded from files rather than
/// streamed, and versioned in the lake like everything else so a published
/// figure can name the population it divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reference {
    /// LSOA to ward to local authority.
    LsoaLookup,
    /// ONS mid-year estimates by LSOA, year and single year of age.
    Population,
    /// English Indices of Deprivation 2019 by LSOA (rank 1 = most deprived).
    Imd,
}

impl Reference {
    pub const ALL: &'static [Reference] = &[Reference::LsoaLookup, Reference::Population, Reference::Imd];

    pub fn name(&self) -> &'static str {
        match self {
            Reference::LsoaLookup => "lsoa_lookup",
            Reference::Population => "population",
            Reference::Imd => "imd",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    pub fn schema(&self) -> SchemaRef {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let i = |n: &str| Field::new(n, DataType::Int32, false);
        Arc::new(Schema::new(match self {
            Reference::LsoaLookup => {
                vec![
                    s("lsoa_code", false),
                    s("lsoa_name", true),
                    s("ward_code", true),
                    s("ward_name", true),
                    s("la_code", false),
                    s("la_name", true),
                ]
            }
            Reference::Population => vec![s("lsoa_code", false), i("year"), i("age"), Field::new("population", DataType::Int64, false)],
            Reference::Imd => vec![s("lsoa_code", false), i("imd_rank"), i("imd_decile")],
        }))
    }
}
