//! Retention and erasure: the lake, landing-folder and Kafka side of the
//! policy in `vru_model::retention`. A run works in the two stages the
//! Biometrics Commissioner's 2016 report describes: expired material made
//! non-searchable at once, then fully deleted.
//!
//! | module | job |
//! |---|---|
//! | [`plan`] | every record through the policy, withdrawals matched: tallies and events to erase |
//! | [`apply`] | a run: journal, stage 1, stage 2, management information; resumable |
//! | [`markers`] | stage 1: deletion markers and the `txn` bookkeeping readers apply |
//! | [`physical`] | stage 2: Delta DELETE with conflict retries, verification, VACUUM, legacy log migration |
//! | [`facts`] | reading records and people's last events from the lake |
//! | [`files`] | landing-folder files past their date |
//! | [`history`] | what past runs erased, for reproducing a report |
//! | [`withdrawals`] | partners' withdrawal files: checked, matched, receipted, removed |
//! | [`journal`] | the run journal and the one-run-at-a-time lock |

pub mod apply;
pub mod facts;
pub mod files;
pub mod history;
pub mod journal;
pub mod markers;
pub mod physical;
pub mod plan;
pub mod withdrawals;

use crate::lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("another retention run is in progress (the lock in <lake>/_retention is held); wait for it to finish")]
    Busy,
    #[error("{0}")]
    Invalid(String),
    #[error("retention run halted after step {0} (a test stop); the next apply completes it")]
    Halted(String),
}
