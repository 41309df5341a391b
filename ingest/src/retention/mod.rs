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

pub use crate::error::RetentionError;

/// The `[retention]` section of the configuration: how runs behave,
/// whatever the policy says is due.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Retention policy: a built-in name (`default`) or a policy file path
    /// (`--retention`).
    pub policy: String,
    /// Largest share of any table's records one run may erase without
    /// `--confirm`: a policy typo ("6 days" for "6 years") or a mistaken
    /// withdrawal cannot empty a table overnight. Daily runs under the
    /// default policy erase well under 0.1% a day.
    pub max_share: f64,
    /// Files a deletion replaced are vacuumed once this many seconds old.
    /// Until then a reader that opened the table before the deletion may
    /// still read them: an SQL-service query (at most
    /// `server.query_timeout`, 300 s) or a report (under 2 minutes on the
    /// 10x city). 900 s is three times the longest; the erased rows are
    /// hidden from every new reader meanwhile.
    pub vacuum_grace_secs: u64,
    /// Wait out the grace period inside the run, so one run leaves nothing
    /// on disk; otherwise the next run vacuums.
    pub wait_for_vacuum: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { policy: "default".into(), max_share: 0.05, vacuum_grace_secs: 900, wait_for_vacuum: true }
    }
}
