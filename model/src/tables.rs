//! The lake's tables: one per event family, plus reference tables. Every
//! event table starts with the same envelope columns so analysts can union
//! them and the normaliser can treat them alike.

use crate::event::{Attributes, Event, Source};
use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::ser::{SerializeMap, Serializer};
use std::sync::Arc;

/// Declares the event tables from one line each (variant, name in the lake
/// and in SQL, source): the enum, [`Table::ALL`], [`Table::name`] and
/// [`Table::source`] all come from the one list, so a table cannot be added
/// and left out of `ALL` (the normaliser would dead-letter all its events).
macro_rules! event_tables {
    ($($variant:ident => $name:literal, $source:ident;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Table {
            $($variant,)+
        }

        impl Table {
            pub const ALL: &'static [Table] = &[$(Table::$variant,)+];

            /// The table's name in the lake directory and in SQL.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Table::$variant => $name,)+
                }
            }

            pub fn source(&self) -> Source {
                match self {
                    $(Table::$variant => Source::$source,)+
                }
            }
        }
    };
}

event_tables! {
    PoliceOffences => "police_offences", Police;
    PoliceAsb => "police_asb", Police;
    AeAttendances => "ae_attendances", Ae;
    YjOutcomes => "yj_outcomes", YouthJustice;
    EducationEvents => "education_events", Education;
    AceScreenings => "ace_screenings", Ace;
    SurveyResponses => "survey_responses", Survey;
    Commitments => "commitments", Commitments;
    PoliceUkCrimes => "police_uk_crimes", PoliceUk;
    ExtractReceipts => "extract_receipts", Receipts;
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

impl Table {
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.iter().copied().find(|t| t.name() == name)
    }

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
    /// measure reads; production tables keep the strict schema.
    pub fn relaxed_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        Arc::new(Schema::new(fields))
    }

    fn attribute_fields(&self) -> Vec<Field> {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        let os = |n: &str| Field::new(n, DataType::Utf8, true);
        let date = |n: &str| Field::new(n, DataType::Date32, true);
        match self {
            Table::PoliceOffences => vec![
                s("crime_ref"),
                s("offence_code"),
                Field::new("knife", DataType::Boolean, false),
                Field::new("firearm", DataType::Boolean, false),
                Field::new("domestic", DataType::Boolean, false),
                os("outcome"),
                date("outcome_date"),
            ],
            Table::PoliceAsb => vec![s("category")],
            Table::AeAttendances => vec![
                s("site_code"),
                Field::new("assault_at", local_timestamp(), true),
                os("assault_method"),
                os("location_type"),
                os("location_description"),
            ],
            Table::YjOutcomes => {
                vec![s("offence_code"), s("outcome"), date("outcome_date"), Field::new("gravity_score", DataType::Int32, true)]
            }
            Table::EducationEvents => vec![
                os("school"),
                date("end_date"),
                Field::new("sessions", DataType::Float64, true),
                Field::new("reason_codes", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
                os("status"),
            ],
            Table::AceScreenings => {
                let mut f = vec![
                    s("indicator_set"),
                    Field::new("n_present", DataType::Int32, false),
                    Field::new("n_unknown", DataType::Int32, false),
                    Field::new("n_assessed", DataType::Int32, false),
                ];
                f.extend(ACE_INDICATORS.iter().map(|n| Field::new(*n, DataType::Boolean, true)));
                f
            }
            Table::SurveyResponses => {
                let answer = |n: &str| Field::new(n, DataType::Int32, true);
                vec![
                    s("area_code"),
                    s("age_band"),
                    answer("feel_safe"),
                    answer("feel_supported"),
                    answer("feel_respected"),
                    answer("feel_hopeful"),
                ]
            }
            Table::Commitments => vec![s("title"), s("priority"), s("owner"), Field::new("due_date", DataType::Date32, false), s("status")],
            Table::PoliceUkCrimes => vec![
                os("crime_id"),
                s("month"),
                os("reported_by"),
                os("falls_within"),
                Field::new("longitude", DataType::Float64, true),
                Field::new("latitude", DataType::Float64, true),
                os("location"),
                os("lsoa_name"),
                os("la_name"),
                s("crime_type"),
                os("last_outcome_category"),
                os("context"),
            ],
            Table::ExtractReceipts => vec![
                s("file_name"),
                s("extract_kind"),
                Field::new("extract_date", DataType::Date32, false),
                s("status"),
                Field::new("rows_read", DataType::Int64, false),
                Field::new("rows_published", DataType::Int64, false),
                Field::new("rows_rejected", DataType::Int64, false),
                Field::new("rows_duplicate", DataType::Int64, false),
            ],
        }
    }
}

/// Event times are UK wall-clock times as partners record them (the A&E
/// hour-of-day profile must read 22:00 as 22:00 all year), so they carry no
/// time zone; `ingested_at` is an instant and carries UTC.
pub fn local_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
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

/// The flat row an event becomes in its table: envelope then attributes.
struct ArrowRow<'a>(&'a Event);

impl serde::Serialize for ArrowRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.0.envelope;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event_id", &e.event_id)?;
        m.serialize_entry("source", &e.source)?;
        m.serialize_entry("kind", &e.kind)?;
        m.serialize_entry("partner", &e.partner)?;
        m.serialize_entry("record_id", &e.record_id)?;
        m.serialize_entry("record_version", &e.record_version)?;
        m.serialize_entry("occurred_at", &e.occurred_at)?;
        m.serialize_entry("recorded_at", &e.recorded_at)?;
        m.serialize_entry("ingested_at", &e.ingested_at)?;
        m.serialize_entry("extract_id", &e.extract_id)?;
        m.serialize_entry("subject", &e.subject)?;
        m.serialize_entry("role", &e.role)?;
        m.serialize_entry("age", &e.age)?;
        m.serialize_entry("sex", &e.sex)?;
        m.serialize_entry("home_lsoa", &e.home_lsoa)?;
        m.serialize_entry("event_lsoa", &e.event_lsoa)?;
        match &self.0.attributes {
            Attributes::Offence(a) => {
                m.serialize_entry("crime_ref", &a.crime_ref)?;
                m.serialize_entry("offence_code", &a.offence_code)?;
                m.serialize_entry("knife", &a.knife)?;
                m.serialize_entry("firearm", &a.firearm)?;
                m.serialize_entry("domestic", &a.domestic)?;
                m.serialize_entry("outcome", &a.outcome)?;
                m.serialize_entry("outcome_date", &a.outcome_date)?;
            }
            Attributes::AsbIncident(a) => m.serialize_entry("category", &a.category)?,
            Attributes::AeAttendance(a) => {
                m.serialize_entry("site_code", &a.site_code)?;
                m.serialize_entry("assault_at", &a.assault_at)?;
                m.serialize_entry("assault_method", &a.assault_method)?;
                m.serialize_entry("location_type", &a.location_type)?;
                m.serialize_entry("location_description", &a.location_description)?;
            }
            Attributes::YjOutcome(a) => {
                m.serialize_entry("offence_code", &a.offence_code)?;
                m.serialize_entry("outcome", &a.outcome)?;
                m.serialize_entry("outcome_date", &a.outcome_date)?;
                m.serialize_entry("gravity_score", &a.gravity_score)?;
            }
            Attributes::Education(a) => {
                m.serialize_entry("school", &a.school)?;
                m.serialize_entry("end_date", &a.end_date)?;
                m.serialize_entry("sessions", &a.sessions)?;
                m.serialize_entry("reason_codes", &a.reason_codes)?;
                m.serialize_entry("status", &a.status)?;
            }
            Attributes::AceScreening(a) => {
                m.serialize_entry("indicator_set", &a.indicator_set)?;
                m.serialize_entry("n_present", &a.present())?;
                m.serialize_entry("n_unknown", &a.unknown())?;
                m.serialize_entry("n_assessed", &a.indicators.len())?;
                for (name, value) in &a.indicators {
                    m.serialize_entry(name, value)?;
                }
            }
            Attributes::SurveyResponse(a) => {
                m.serialize_entry("area_code", &a.area_code)?;
                m.serialize_entry("age_band", &a.age_band)?;
                m.serialize_entry("feel_safe", &a.feel_safe)?;
                m.serialize_entry("feel_supported", &a.feel_supported)?;
                m.serialize_entry("feel_respected", &a.feel_respected)?;
                m.serialize_entry("feel_hopeful", &a.feel_hopeful)?;
            }
            Attributes::Commitment(a) => {
                m.serialize_entry("title", &a.title)?;
                m.serialize_entry("priority", &a.priority)?;
                m.serialize_entry("owner", &a.owner)?;
                m.serialize_entry("due_date", &a.due_date)?;
                m.serialize_entry("status", &a.status)?;
            }
            Attributes::StreetCrime(a) => {
                m.serialize_entry("crime_id", &a.crime_id)?;
                m.serialize_entry("month", &a.month)?;
                m.serialize_entry("reported_by", &a.reported_by)?;
                m.serialize_entry("falls_within", &a.falls_within)?;
                m.serialize_entry("longitude", &a.longitude)?;
                m.serialize_entry("latitude", &a.latitude)?;
                m.serialize_entry("location", &a.location)?;
                m.serialize_entry("lsoa_name", &a.lsoa_name)?;
                m.serialize_entry("la_name", &a.la_name)?;
                m.serialize_entry("crime_type", &a.crime_type)?;
                m.serialize_entry("last_outcome_category", &a.last_outcome_category)?;
                m.serialize_entry("context", &a.context)?;
            }
            Attributes::ExtractReceipt(a) => {
                m.serialize_entry("file_name", &a.file_name)?;
                m.serialize_entry("extract_kind", &a.extract_kind)?;
                m.serialize_entry("extract_date", &a.extract_date)?;
                m.serialize_entry("status", &a.status)?;
                m.serialize_entry("rows_read", &a.rows_read)?;
                m.serialize_entry("rows_published", &a.rows_published)?;
                m.serialize_entry("rows_rejected", &a.rows_rejected)?;
                m.serialize_entry("rows_duplicate", &a.rows_duplicate)?;
            }
        }
        m.serialize_entry("content_hash", &e.content_hash)?;
        m.end()
    }
}

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
    let mut decoder =
        arrow_json::ReaderBuilder::new(schema.clone()).with_batch_size(events.len().max(1)).with_strict_mode(true).build_decoder()?;
    let rows: Vec<ArrowRow<'_>> = events.iter().map(|e| ArrowRow(e)).collect();
    decoder.serialize(&rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema)))
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
