//! The event: one fact a partner told us, in an envelope every table shares
//! and typed attributes specific to its family.
//!
//! On Kafka an event is one JSON object: the envelope fields at the top
//! level, `kind`, and an `attributes` object whose shape `kind` decides. JSON
//! keeps the topics readable with any client (kcat, Python) and lets an
//! independent producer write events without our code; the cost of parsing
//! it is measured in `BENCHMARKS.md`.

use crate::ids::{EventId, is_lsoa_code, is_pseudonym, is_small_area_code};
use crate::tables::Table;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Bumped when the wire format changes incompatibly, so an old normaliser
/// sends new events to the dead-letter topic instead of misreading them.
pub const WIRE_VERSION: u32 = 1;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Who sent it. Each source has its own Kafka topic.
    Source {
        Police => "police",
        Ae => "ae",
        YouthJustice => "yjs",
        Education => "education",
        Ace => "ace",
        Survey => "survey",
        Commitments => "commitments",
        PoliceUk => "police_uk",
        Receipts => "receipts",
    }
);

string_enum!(
    /// What happened. Several kinds can share a lake table (the education
    /// events), which is why the table is derived from the kind, not the source.
    Kind {
        Offence => "offence",
        AsbIncident => "asb_incident",
        AeAttendance => "ae_attendance",
        YjOutcome => "yj_outcome",
        SchoolCensus => "school_census",
        Suspension => "suspension",
        PermanentExclusion => "permanent_exclusion",
        ApPlacement => "ap_placement",
        NeetStatus => "neet_status",
        AceScreening => "ace_screening",
        SurveyResponse => "survey_response",
        CommitmentStatus => "commitment_status",
        StreetCrime => "street_crime",
        ExtractReceipt => "extract_receipt",
    }
);

string_enum!(
    /// The subject's part in the event.
    Role {
        Victim => "victim",
        Suspect => "suspect",
        Charged => "charged",
        Patient => "patient",
        Child => "child",
        Pupil => "pupil",
    }
);

string_enum!(
    /// Recorded sex. `U` covers not known and not stated: partners differ in
    /// how they record it and the measures only need male / not male.
    Sex { Male => "M", Female => "F", Unknown => "U" }
);

impl Kind {
    pub fn table(&self) -> Table {
        match self {
            Kind::Offence => Table::PoliceOffences,
            Kind::AsbIncident => Table::PoliceAsb,
            Kind::AeAttendance => Table::AeAttendances,
            Kind::YjOutcome => Table::YjOutcomes,
            Kind::SchoolCensus | Kind::Suspension | Kind::PermanentExclusion | Kind::ApPlacement | Kind::NeetStatus => {
                Table::EducationEvents
            }
            Kind::AceScreening => Table::AceScreenings,
            Kind::SurveyResponse => Table::SurveyResponses,
            Kind::CommitmentStatus => Table::Commitments,
            Kind::StreetCrime => Table::PoliceUkCrimes,
            Kind::ExtractReceipt => Table::ExtractReceipts,
        }
    }
}

/// The fields every event has, whatever its family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: EventId,
    pub source: Source,
    pub kind: Kind,
    /// The partner organisation (its landing sub-folder), so a partner can be
    /// shown only its own rows.
    pub partner: String,
    pub record_id: String,
    pub record_version: u32,
    /// Local (UK) wall-clock time of the event, as partners record it.
    pub occurred_at: NaiveDateTime,
    /// When the partner recorded it, where the extract says.
    pub recorded_at: Option<NaiveDateTime>,
    pub ingested_at: DateTime<Utc>,
    /// SHA-256 of the extract file the row came from (links to its receipt).
    pub extract_id: String,
    pub subject: Option<String>,
    pub role: Option<Role>,
    pub age: Option<u8>,
    pub sex: Option<Sex>,
    pub home_lsoa: Option<String>,
    pub event_lsoa: Option<String>,
    /// A hash of what the row says ([`Event::content_hash`]): a record
    /// re-sent with the same id and version but other content is a
    /// conflict, not a duplicate. Absent from events other producers wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// One police-recorded offence as seen by one person in one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offence {
    pub crime_ref: String,
    pub offence_code: String,
    pub knife: bool,
    pub firearm: bool,
    pub domestic: bool,
    pub outcome: Option<String>,
    pub outcome_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsbIncident {
    pub category: String,
}

/// An A&E assault attendance: the ISTV minimum data set plus linkage fields.
/// The ISTV fields are optional because their completeness is itself a
/// measure (A1); a blank one is recorded, not rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AeAttendance {
    pub site_code: String,
    pub assault_at: Option<NaiveDateTime>,
    pub assault_method: Option<String>,
    pub location_type: Option<String>,
    pub location_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YjOutcome {
    pub offence_code: String,
    pub outcome: String,
    pub outcome_date: Option<NaiveDate>,
    pub gravity_score: Option<u8>,
}

/// Census rows, suspensions, exclusions, alternative provision and NEET
/// share one table: the cohort measures ask "did this person ever have X",
/// which is one scan of one table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EducationEvent {
    pub school: Option<String>,
    pub end_date: Option<NaiveDate>,
    pub sessions: Option<f64>,
    pub reason_codes: Vec<String>,
    pub status: Option<String>,
}

/// One ACE screening. Each indicator is present (`true`), absent (`false`)
/// or not known (`None`), because unknown is not the same as absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AceScreening {
    pub indicator_set: String,
    pub indicators: Vec<(String, Option<bool>)>,
}

impl AceScreening {
    pub fn present(&self) -> usize {
        self.indicators.iter().filter(|(_, v)| *v == Some(true)).count()
    }
    pub fn unknown(&self) -> usize {
        self.indicators.iter().filter(|(_, v)| v.is_none()).count()
    }
}

/// One anonymous survey response; answers on a 1-5 agreement scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyResponse {
    pub area_code: String,
    pub age_band: String,
    pub feel_safe: Option<u8>,
    pub feel_supported: Option<u8>,
    pub feel_respected: Option<u8>,
    pub feel_hopeful: Option<u8>,
}

/// One status update of a strategy commitment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    pub title: String,
    pub priority: String,
    pub owner: String,
    pub due_date: NaiveDate,
    pub status: String,
}

/// One row of data.police.uk street-level crime data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The summary of one extract's ingest, published as an event so the data
/// quality measure (Q1) reads it from the lake like everything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractReceipt {
    pub file_name: String,
    pub extract_kind: String,
    pub extract_date: NaiveDate,
    pub status: String,
    pub rows_read: u64,
    pub rows_published: u64,
    pub rows_rejected: u64,
    pub rows_duplicate: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Attributes {
    Offence(Offence),
    AsbIncident(AsbIncident),
    AeAttendance(AeAttendance),
    YjOutcome(YjOutcome),
    Education(EducationEvent),
    AceScreening(AceScreening),
    SurveyResponse(SurveyResponse),
    Commitment(Commitment),
    StreetCrime(StreetCrime),
    ExtractReceipt(ExtractReceipt),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub envelope: Envelope,
    pub attributes: Attributes,
}

/// Why a message could not become an event. Goes with the message to the
/// dead-letter topic, so it must say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON event object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("wire version {0} is not understood by this normaliser (it reads version {WIRE_VERSION})")]
    WireVersion(u32),
    #[error("attributes do not match kind `{kind}`: {source}")]
    Attributes { kind: Kind, source: serde_json::Error },
    #[error("invalid envelope: {0}")]
    Envelope(String),
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    #[serde(flatten)]
    envelope: &'a Envelope,
    attributes: &'a Attributes,
}

#[derive(Deserialize)]
struct WireIn<'a> {
    v: u32,
    #[serde(flatten)]
    envelope: Envelope,
    #[serde(borrow)]
    attributes: &'a RawValue,
}

impl Source {
    /// Sources whose records carry no version (data.police.uk republishes a
    /// month with new outcomes): a change of content is a new revision,
    /// identified by the content itself, and the latest ingested wins.
    pub fn content_addressed(&self) -> bool {
        *self == Source::PoliceUk
    }
}

impl Event {
    pub fn table(&self) -> Table {
        self.envelope.kind.table()
    }

    /// 16 hex digits of SHA-256 over the row's content (everything but the
    /// ids, the extract and the ingest time). Stable across releases: it is
    /// kept in the lake and compared with rows sent years later, so the
    /// encoding is fixed here, field by field: strings with their length,
    /// absent values as a 0 tag, times as days and seconds, then the
    /// attributes as JSON. It runs twice for every row of every extract,
    /// which is why the envelope is not JSON (formatting dates was most of
    /// the cost).
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        fn text(h: &mut Sha256, s: Option<&str>) {
            match s {
                None => h.update([0u8]),
                Some(s) => {
                    h.update([1u8]);
                    h.update((s.len() as u32).to_le_bytes());
                    h.update(s.as_bytes());
                }
            }
        }
        fn time(h: &mut Sha256, t: Option<NaiveDateTime>) {
            use chrono::{Datelike, Timelike};
            match t {
                None => h.update([0u8]),
                Some(t) => {
                    h.update([1u8]);
                    h.update(t.date().num_days_from_ce().to_le_bytes());
                    h.update(t.num_seconds_from_midnight().to_le_bytes());
                }
            }
        }
        // One buffer per thread for the attributes' JSON, reused.
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let e = &self.envelope;
        let mut h = Sha256::new();
        h.update(b"vru-content-1");
        text(&mut h, Some(e.kind.as_str()));
        text(&mut h, Some(if e.source.content_addressed() { "" } else { &e.record_id }));
        h.update(e.record_version.to_le_bytes());
        time(&mut h, Some(e.occurred_at));
        time(&mut h, e.recorded_at);
        text(&mut h, e.subject.as_deref());
        text(&mut h, e.role.map(|r| r.as_str()));
        h.update(e.age.map_or([0, 0], |a| [1, a]));
        text(&mut h, e.sex.map(|s| s.as_str()));
        text(&mut h, e.home_lsoa.as_deref());
        text(&mut h, e.event_lsoa.as_deref());
        BUF.with_borrow_mut(|buf| {
            buf.clear();
            serde_json::to_writer(&mut *buf, &self.attributes).expect("attributes serialise");
            h.update(&buf[..]);
        });
        hex::encode(&h.finalize()[..8])
    }

    /// Sets the content hash and, for content-addressed sources, the event
    /// id that depends on it. Every event a reader makes passes here.
    pub fn seal(mut self) -> Event {
        let hash = self.content_hash();
        let e = &mut self.envelope;
        if e.source.content_addressed() {
            e.event_id = EventId::derive_revision(e.source.as_str(), &e.partner, &e.record_id, &hash);
        }
        e.content_hash = Some(hash);
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&WireOut { v: WIRE_VERSION, envelope: &self.envelope, attributes: &self.attributes })
            .expect("events always serialise")
    }

    /// Decodes and re-checks an event from the wire. Producers other than
    /// ours may write to the topics, so nothing is trusted: the id must match
    /// the record it names and identifiers must have pseudonym shape.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: WireIn<'_> = serde_json::from_slice(bytes)?;
        if wire.v != WIRE_VERSION {
            return Err(DecodeError::WireVersion(wire.v));
        }
        let env = wire.envelope;
        let raw = wire.attributes.get();
        let attr_err = |source| DecodeError::Attributes { kind: env.kind, source };
        let attributes = match env.kind.table() {
            Table::PoliceOffences => Attributes::Offence(serde_json::from_str(raw).map_err(attr_err)?),
            Table::PoliceAsb => Attributes::AsbIncident(serde_json::from_str(raw).map_err(attr_err)?),
            Table::AeAttendances => Attributes::AeAttendance(serde_json::from_str(raw).map_err(attr_err)?),
            Table::YjOutcomes => Attributes::YjOutcome(serde_json::from_str(raw).map_err(attr_err)?),
            Table::EducationEvents => Attributes::Education(serde_json::from_str(raw).map_err(attr_err)?),
            Table::AceScreenings => Attributes::AceScreening(serde_json::from_str(raw).map_err(attr_err)?),
            Table::SurveyResponses => Attributes::SurveyResponse(serde_json::from_str(raw).map_err(attr_err)?),
            Table::Commitments => Attributes::Commitment(serde_json::from_str(raw).map_err(attr_err)?),
            Table::PoliceUkCrimes => Attributes::StreetCrime(serde_json::from_str(raw).map_err(attr_err)?),
            Table::ExtractReceipts => Attributes::ExtractReceipt(serde_json::from_str(raw).map_err(attr_err)?),
        };
        check_envelope(&env)?;
        Ok(Event { envelope: env, attributes })
    }
}

fn check_envelope(env: &Envelope) -> Result<(), DecodeError> {
    let bad = |m: String| Err(DecodeError::Envelope(m));
    let expected = match (&env.content_hash, env.source.content_addressed()) {
        (Some(hash), true) => EventId::derive_revision(env.source.as_str(), &env.partner, &env.record_id, hash),
        (None, true) => return bad(format!("a `{}` event needs its content_hash: its id is derived from it", env.source)),
        (_, false) => EventId::derive(env.source.as_str(), &env.partner, &env.record_id, env.record_version),
    };
    if env.content_hash.as_ref().is_some_and(|h| h.len() != 16 || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return bad("content_hash must be 16 hex digits".into());
    }
    if env.event_id != expected {
        return bad(format!("event_id {} does not match source/partner/record_id/record_version (expected {expected})", env.event_id));
    }
    if env.kind.table().source() != env.source {
        return bad(format!("kind `{}` does not come from source `{}`", env.kind, env.source));
    }
    if let Some(s) = &env.subject
        && !is_pseudonym(s)
    {
        return bad("subject is not a pseudonym (64 lowercase hex digits); raw identifiers are refused".into());
    }
    if let Some(code) = &env.event_lsoa
        && !is_lsoa_code(code)
    {
        return bad(format!("event_lsoa `{}` is not an LSOA code", crate::identifiers::shown(code)));
    }
    if let Some(code) = &env.home_lsoa
        && !is_small_area_code(code)
    {
        return bad(format!("home_lsoa `{}` is not a UK small-area code", crate::identifiers::shown(code)));
    }
    if env.age.is_some_and(|a| a > 120) {
        return bad(format!("age {} is out of range 0-120", env.age.unwrap_or_default()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Event {
        let envelope = Envelope {
            event_id: EventId::derive("police", "police-north", "r1", 1),
            source: Source::Police,
            kind: Kind::Offence,
            partner: "police-north".into(),
            record_id: "r1".into(),
            record_version: 1,
            occurred_at: NaiveDate::from_ymd_opt(2023, 5, 1).unwrap().and_hms_opt(22, 15, 0).unwrap(),
            recorded_at: None,
            ingested_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            extract_id: "e".repeat(64),
            subject: Some("a".repeat(64)),
            role: Some(Role::Victim),
            age: Some(17),
            sex: Some(Sex::Male),
            home_lsoa: Some("E01000001".into()),
            event_lsoa: Some("E01000002".into()),
            content_hash: None,
        };
        let attributes = Attributes::Offence(Offence {
            crime_ref: "c".repeat(64),
            offence_code: "34B".into(),
            knife: true,
            firearm: false,
            domestic: false,
            outcome: None,
            outcome_date: None,
        });
        Event { envelope, attributes }.seal()
    }

    #[test]
    fn content_hash_ignores_where_and_when_it_was_read() {
        let a = sample();
        let mut b = sample();
        b.envelope.ingested_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        b.envelope.extract_id = "f".repeat(64);
        assert_eq!(a.content_hash(), b.content_hash());
        b.envelope.age = Some(18);
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.envelope.content_hash.as_deref().map(str::len), Some(16));
    }

    #[test]
    fn wire_round_trip() {
        let e = sample();
        let json = e.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(r#""kind":"offence""#), "{text}");
        assert!(text.contains(r#""occurred_at":"2023-05-01T22:15:00""#), "{text}");
        assert_eq!(Event::from_json(&json).unwrap(), e);
    }

    #[test]
    fn tampered_or_raw_events_refused() {
        let mut e = sample();
        e.envelope.record_id = "r2".into();
        assert!(matches!(Event::from_json(&e.to_json()), Err(DecodeError::Envelope(m)) if m.contains("event_id")));

        let mut e = sample();
        e.envelope.subject = Some("9434765919".into());
        assert!(matches!(Event::from_json(&e.to_json()), Err(DecodeError::Envelope(m)) if m.contains("pseudonym")));

        assert!(matches!(Event::from_json(b"{not json"), Err(DecodeError::Json(_))));
        let text = String::from_utf8(sample().to_json()).unwrap().replace(r#""v":1"#, r#""v":9"#);
        assert!(matches!(Event::from_json(text.as_bytes()), Err(DecodeError::WireVersion(9))));
        let text = String::from_utf8(sample().to_json()).unwrap().replace(r#""offence_code":"34B","#, "");
        assert!(matches!(Event::from_json(text.as_bytes()), Err(DecodeError::Attributes { .. })));
    }
}
