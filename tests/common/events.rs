//! Events built by hand, for tests that write straight into a topic.

use vru_model::Event;
use vru_model::event::{Attributes, Envelope, Kind, Offence, Role, Sex, Source};
use vru_model::ids::EventId;

/// A valid police offence event for `record`.
pub fn offence(record: &str) -> Event {
    let partner = "police-test";
    Event {
        envelope: Envelope {
            event_id: EventId::derive("police", partner, record, 1),
            source: Source::Police,
            kind: Kind::Offence,
            partner: partner.into(),
            record_id: record.into(),
            record_version: 1,
            occurred_at: chrono::NaiveDate::from_ymd_opt(2023, 6, 1).unwrap().and_hms_opt(21, 0, 0).unwrap(),
            recorded_at: None,
            ingested_at: chrono::Utc::now(),
            extract_id: "e".repeat(64),
            subject: Some("a".repeat(64)),
            role: Some(Role::Victim),
            age: Some(16),
            sex: Some(Sex::Male),
            home_lsoa: None,
            event_lsoa: Some("E01000001".into()),
            content_hash: None,
        },
        attributes: Attributes::Offence(Offence {
            crime_ref: "c".repeat(64),
            offence_code: "34B".into(),
            knife: false,
            firearm: false,
            domestic: false,
            outcome: None,
            outcome_date: None,
        }),
    }
}
