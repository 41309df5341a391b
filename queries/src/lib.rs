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
//! | [`report`] | the annual-review report: HTML, CSVs, manifest |

pub mod disclosure;
pub mod export;
pub mod format;
pub mod measures;
pub mod report;
pub mod session;
pub mod tables;

/// Re-exported so callers use the same DataFusion and Arrow versions.
pub use datafusion;
pub use session::{LakeSource, Session, SessionOptions, build_session};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("SQL: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("formatting a result: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("lake table {table}: {source}")]
    Delta { table: String, source: deltalake::DeltaTableError },
    #[error("lake: {0}")]
    Lake(#[from] vru_lake::LakeError),
    #[error("in {file}: {source}")]
    View { file: String, source: datafusion::error::DataFusionError },
    #[error("disclosure control: {0}")]
    Disclosure(#[from] crate::disclosure::DisclosureError),
    #[error("{0}")]
    Invalid(String),
}

impl QueryError {
    /// A query or view that fails to plan or run is ours (the measure SQL)
    /// or the caller's (`Invalid`: a bad option or name); the lake failing
    /// to read may heal.
    pub fn kind(&self) -> vru_model::error_kind::ErrorKind {
        use vru_model::error_kind::ErrorKind;
        match self {
            QueryError::Delta { .. } => ErrorKind::Infrastructure,
            QueryError::Lake(e) => e.kind(),
            QueryError::Invalid(_) => ErrorKind::Configuration,
            QueryError::DataFusion(_) | QueryError::Arrow(_) | QueryError::View { .. } | QueryError::Disclosure(_) => ErrorKind::Bug,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}
