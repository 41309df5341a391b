//! The envelope: the fields every event has, whatever its family, and the
//! closed sets (role, sex) it draws on.

use crate::ids::EventId;
use crate::kinds::{Kind, Source, string_enum};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

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
