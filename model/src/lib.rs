//! The pure core of the VRU pipeline: what an event is, how a partner's row
//! becomes one, how the lake lays it out, and which offences count as serious
//! violence. Nothing here touches a file, a socket or a clock that is not
//! passed in, so every rule can be tested without a broker or a lake.
//!
//! | module | job |
//! |---|---|
//! | [`ids`] | deterministic event ids, pseudonym and LSOA code shapes |
//! | [`pseudonym`] | keyed HMAC-SHA256 pseudonyms partners compute before sending |
//! | [`kinds`] | sources, kinds, tables and extract kinds, generated from the source registry |
//! | [`envelope`] | the fields every event has |
//! | [`attributes`] | what a source's attribute type says about its table |
//! | [`error`] | whose fault an error is, whether retrying can help, and the model's errors |
//! | [`event`] | the event envelope, typed attributes and the Kafka wire format |
//! | [`extract`] | column specs and typed field parsing shared by every source |
//! | [`sources`] | one module per partner source: its extract kinds and row rules |
//! | [`tables`] | the lake tables: Arrow schemas and event-to-row conversion |
//! | [`classification`] | versioned serious-violence definitions and the offence catalogue |
//! | [`period`] | financial years and rolling windows |
//! | [`receipt`] | what an ingest of one extract reports back to the partner |
//! | [`identifiers`] | detectors for raw identifiers that must never be ingested |
//! | [`retention`] | the retention policy, which records are due when, deletion tallies |

pub mod attributes;
mod batch;
pub mod classification;
pub mod envelope;
pub mod error;
pub mod event;
pub mod extract;
pub mod identifiers;
pub mod ids;
pub mod kinds;
pub mod period;
pub mod pseudonym;
pub mod receipt;
pub mod retention;
pub mod sources;
pub mod tables;
mod wire_time;

pub use event::{Attributes, Envelope, Event, Kind, Role, Sex, Source};
pub use extract::{ExtractKind, FieldError};
pub use ids::EventId;
