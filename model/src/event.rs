//! The event: one fact a partner told us, in an envelope every table shares
//! and typed attributes specific to its family.
//!
//! On Kafka an event is one JSON object: the envelope fields at the top
//! level, `kind`, and an `attributes` object whose shape `kind` decides. JSON
//! keeps the topics readable with any client (kcat, Python) and lets an
//! independent producer write events without our code; the cost of parsing
//! it is measured in `BENCHMARKS.md`.

use crate::ids::{EventId, is_lsoa_code, is_pseudonym, is_small_area_code};
use crate::kinds::Table;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Bumped when the wire format changes incompatibly, so an old normaliser
/// sends new events to the dead-letter topic instead of misreading them.
pub const WIRE_VERSION: u32 = 1;

pub use crate::envelope::{Envelope, Role, Sex};
use crate::error::ErrorKind;
pub use crate::kinds::{Kind, Source};
pub use crate::sources::ace::AceScreening;
pub use crate::sources::ae::AeAttendance;
pub use crate::sources::commitments::Commitment;
pub use crate::sources::education::EducationEvent;
pub use crate::sources::police::{AsbIncident, Offence};
pub use crate::sources::police_uk::StreetCrime;
pub use crate::sources::receipts::ExtractReceipt;
pub use crate::sources::survey::SurveyResponse;
pub use crate::sources::yjs::YjOutcome;

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

impl DecodeError {
    /// A message that does not decode is its producer's fault, never healed
    /// by reading it again: it goes to the dead-letter topic.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::PartnerData
    }
}

macro_rules! attributes {
    (
        sources: $sources:tt
        tables: [$($table:ident $table_name:literal $attr:ident $module:ident $ty:ident $source:ident)+]
        $($rest:tt)*
    ) => {
        /// An event's attributes: one variant per lake table, holding the
        /// attribute type its source declares.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Attributes {
            $($attr(crate::sources::$module::$ty),)+
        }

        /// Reads the attributes of an event of `kind` from their JSON.
        fn attributes_from_json(kind: Kind, raw: &str) -> Result<Attributes, DecodeError> {
            let attr_err = |source| DecodeError::Attributes { kind, source };
            Ok(match kind.table() {
                $(Table::$table => Attributes::$attr(serde_json::from_str(raw).map_err(attr_err)?),)+
            })
        }
    };
}

crate::sources::registry::registry!(attributes);

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub envelope: Envelope,
    pub attributes: Attributes,
}

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    #[serde(flatten)]
    envelope: &'a Envelope,
    attributes: &'a Attributes,
}

/// The whole wire object read in one pass: the version, the envelope's
/// fields and the attributes' raw JSON (read again by the type `kind`
/// names, once `kind` is known). The envelope's fields are listed again
/// here rather than `#[serde(flatten)]`ed, because flatten buffers every key
/// and value first (it was half of the normaliser's decoding time), and a
/// second pass over the message just for the envelope was most of the rest.
/// [`Envelope`] is built from this field by field, so a field added to one
/// and not the other does not compile; `wire_round_trip` checks the values.
/// Timestamps go through [`crate::wire_time`], which reads our producer's
/// fixed shape by hand and leaves any other shape to chrono.
#[derive(Deserialize)]
struct WireIn<'a> {
    v: u32,
    event_id: EventId,
    source: Source,
    kind: Kind,
    partner: String,
    record_id: String,
    record_version: u32,
    #[serde(deserialize_with = "crate::wire_time::naive")]
    occurred_at: NaiveDateTime,
    #[serde(default, deserialize_with = "crate::wire_time::naive_opt")]
    recorded_at: Option<NaiveDateTime>,
    #[serde(deserialize_with = "crate::wire_time::utc")]
    ingested_at: chrono::DateTime<chrono::Utc>,
    extract_id: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    age: Option<u8>,
    #[serde(default)]
    sex: Option<Sex>,
    #[serde(default)]
    home_lsoa: Option<String>,
    #[serde(default)]
    event_lsoa: Option<String>,
    #[serde(default)]
    content_hash: Option<String>,
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
        // Serde reads a struct from a JSON array too; the wire is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(DecodeError::Envelope("an event is a JSON object".into()));
        }
        let w: WireIn<'_> = serde_json::from_slice(bytes)?;
        if w.v != WIRE_VERSION {
            return Err(DecodeError::WireVersion(w.v));
        }
        let env = Envelope {
            event_id: w.event_id,
            source: w.source,
            kind: w.kind,
            partner: w.partner,
            record_id: w.record_id,
            record_version: w.record_version,
            occurred_at: w.occurred_at,
            recorded_at: w.recorded_at,
            ingested_at: w.ingested_at,
            extract_id: w.extract_id,
            subject: w.subject,
            role: w.role,
            age: w.age,
            sex: w.sex,
            home_lsoa: w.home_lsoa,
            event_lsoa: w.event_lsoa,
            content_hash: w.content_hash,
        };
        let attributes = attributes_from_json(env.kind, w.attributes.get())?;
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
    use chrono::{DateTime, NaiveDate};

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

    /// Another producer's spellings of the same event (offsets, fractions,
    /// nulls, absent optional fields, escapes, reordered keys) decode to
    /// what the envelope's own derived reader makes of them.
    #[test]
    fn one_pass_reader_agrees_with_the_envelope_reader() {
        let base = String::from_utf8(sample().to_json()).unwrap();
        let variants = [
            base.clone(),
            base.replace(r#""ingested_at":"2023-11-14T22:13:20Z""#, r#""ingested_at":"2023-11-14T23:13:20.25+01:00""#),
            base.replace(r#""occurred_at":"2023-05-01T22:15:00""#, r#""occurred_at":"2023-05-01T22:15:00.123""#),
            base.replace(r#""recorded_at":null,"#, ""),
            base.replace(r#""recorded_at":null"#, r#""recorded_at":"2023-05-02T09:00:00 ""#),
            base.replace(r#""partner":"police-north""#, r#""partner":"police\u002dnorth""#),
            base.replace(r#""sex":"M","#, "").replace(r#""v":1,"#, "").replacen('{', r#"{"sex":"M","v":1,"#, 1),
        ];
        assert_ne!(variants[1], base, "the sample's ingested_at changed; update the variants");
        for text in variants {
            let ours = Event::from_json(text.as_bytes()).map(|e| e.envelope);
            let theirs = serde_json::from_str::<Envelope>(&text);
            assert_eq!(ours.as_ref().ok(), theirs.as_ref().ok(), "{text}");
        }
        assert!(Event::from_json(base.as_bytes()).is_ok());
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
        assert!(matches!(Event::from_json(b" [1, {}]"), Err(DecodeError::Envelope(m)) if m.contains("object")));
        let text = String::from_utf8(sample().to_json()).unwrap().replace(r#""v":1"#, r#""v":9"#);
        assert!(matches!(Event::from_json(text.as_bytes()), Err(DecodeError::WireVersion(9))));
        let text = String::from_utf8(sample().to_json()).unwrap().replace(r#""offence_code":"34B","#, "");
        assert!(matches!(Event::from_json(text.as_bytes()), Err(DecodeError::Attributes { .. })));
    }
}
