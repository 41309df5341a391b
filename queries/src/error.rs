//! The query crate's errors, each saying whose fault it is
//! ([`ErrorKind`]): the measure SQL failing is ours, a bad option the
//! caller's, the lake failing to read may heal.

use vru_model::error::ErrorKind;

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
    Disclosure(#[from] DisclosureError),
    #[error("{0}")]
    Invalid(String),
}

impl QueryError {
    /// A query or view that fails to plan or run is ours (the measure SQL)
    /// or the caller's (`Invalid`: a bad option or name); the lake failing
    /// to read may heal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::Delta { .. } => ErrorKind::Infrastructure,
            QueryError::Lake(e) => e.kind(),
            QueryError::Invalid(_) => ErrorKind::Configuration,
            QueryError::DataFusion(_) | QueryError::Arrow(_) | QueryError::View { .. } => ErrorKind::Bug,
            QueryError::Disclosure(e) => e.kind(),
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    #[error("the LP solver failed on a component of {vars} cells: {message} (an internal error: report it with the audit's input)")]
    Solver { vars: usize, message: String },
    #[error("published tables contradict the declared relations ({0}): was the output changed after disclosure control?")]
    Inconsistent(String),
    #[error("published table {0} is not among the exact outputs")]
    UnknownTable(String),
}

impl DisclosureError {
    /// The solver failing is ours; tables that contradict their declared
    /// relations were changed by someone between protection and audit.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DisclosureError::Solver { .. } => ErrorKind::Bug,
            DisclosureError::Inconsistent(_) | DisclosureError::UnknownTable(_) => ErrorKind::Configuration,
        }
    }
}
