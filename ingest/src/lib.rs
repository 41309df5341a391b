//! The I/O shell around the pure model: files in, Kafka in the middle, Delta
//! tables out.
//!
//! | module | job |
//! |---|---|
//! | [`limits`] | readers that refuse endless lines and decompression bombs |
//! | [`reader`] | streams one extract, row by row, into events or issues |
//! | [`extract`] | ingests one extract: validate, publish, receipt |
//! | [`tracker`] | each record's content and line within one extract: duplicates, conflicts |
//! | [`quarantine`] | the rejected-rows file, safe to open in a spreadsheet |
//! | [`sink`] | where events go: the contract `send` / `confirm` |
//! | [`pseudonymise`] | what a partner runs before sending: id columns of a CSV to keyed pseudonyms |
//! | [`producer`] | the Kafka sink: idempotent producer, delivery accounting |
//! | [`kafka`] | topic names, client settings, the embedded broker |
//! | [`landing`] | the landing folder: one sub-folder per partner, processed/, rejected/ |
//! | [`lake`] | the `vru-lake` crate (Delta tables: create, append with offsets, read ids and offsets), and the landing folder's view of it |
//! | [`normaliser`] | Kafka to Delta, exactly once (decisions in `normaliser::state`, no I/O) |
//! | [`durability`] | waiting, without polling, for the in-process normaliser to read or commit |
//! | [`dlq`] | the dead-letter topic: send, list, replay |
//! | [`pipeline`] | ingest and normaliser in one process (`vru run`, the demo) |
//! | [`reference`] | loads reference tables (lookup, population, IMD) into the lake |
//! | [`retention`] | retention runs: plan, deletion markers, Delta DELETE and VACUUM, withdrawals, files past their date |

pub mod dlq;
pub mod durability;
pub mod error;
pub mod extract;
pub mod kafka;
pub mod lake;
pub mod landing;
pub mod limits;
pub mod metrics;
pub mod normaliser;
pub mod pipeline;
pub mod producer;
pub mod pseudonymise;
pub mod quarantine;
pub mod reader;
pub mod reference;
pub mod retention;
pub mod sink;
pub mod tracker;
