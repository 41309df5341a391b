//! Queries over the lake: the one function that builds the DataFusion
//! session (used alike by the CLI, reports, the SQL server and the tests),
//! the SQL measure files, and running them.
//!
//! | module | job |
//! |---|---|
//! | [`session`] | builds the session: lake tables, current-state views, reference and definition tables, measure views |
//! | [`tables`] | small in-memory tables built from configuration (definition, areas, periods) |
//! | [`measures`] | the catalogue of measure SQL files and running them |
//! | [`disclosure`] | suppression and rounding of every published output of an audience together, and the intruder audit |
//! | [`format`] | printing results for people |
//! | [`export`] | results for other tools: CSV (safe for Excel), JSON lines, Parquet, streamed |
//! | [`period_atoms`] | the measures over the pieces overlapping periods cut time into, for disclosure control |
//! | [`report`] | the annual-review report: HTML, CSVs, manifest |
//! | `latest` | which version of a record is current, as one key `max` picks |
//! | [`computed`] | views computed once, on first use: the current state, `crimes`, the SQL service's measures |
//! | `scratch` | a batch session's private disk: the current state as Parquet, spilling, and sweeping what a killed process left |

pub mod computed;
pub mod disclosure;
mod error;
pub mod export;
pub mod format;
mod latest;
pub mod measures;
pub mod period_atoms;
pub mod report;
mod scratch;
pub mod session;
pub mod tables;

pub use computed::ComputedView;
/// Re-exported so callers use the same DataFusion and Arrow versions.
pub use datafusion;
pub use deltalake::DeltaTable;
pub use error::{DisclosureError, QueryError};
pub use scratch::machine_cap;
pub use session::{LakeSource, Materialise, MeasureViews, Scratch, Session, SessionOptions, build_session};
