//! Retention: how long each table keeps a record and from which date, what
//! suspends deletion, and the management information deletion produces.
//! Pure: the lake and landing-folder work is in `vru-ingest`'s `retention`.
//!
//! | module | job |
//! |---|---|
//! | [`policy`] | the versioned policy file: periods, bases, overrides, holds; validation naming file and line |
//! | [`decide`] | which records are due when (holds, extension by a person's later events) and the run's tallies |
//! | [`schema`] | the `retention_markers` and `retention_runs` tables |

pub mod decide;
pub mod policy;
pub mod schema;

pub use decide::{Decision, RecordFacts, Tallies, Tally, over_share};
pub use policy::{Basis, Hold, HoldTarget, Period, Policy, PolicyError, Rule};
