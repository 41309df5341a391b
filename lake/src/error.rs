//! The lake's one error type. Whose fault it is ([`LakeError::kind`])
//! decides whether the normaliser retries a failed commit.

use deltalake::DeltaTableError;
use vru_model::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("Delta table {table}: {source}")]
    Delta { table: String, source: Box<DeltaTableError> },
    #[error("reading table {table}: {source}")]
    Query { table: String, source: Box<deltalake::datafusion::error::DataFusionError> },
    #[error("reading a file of table {table}: {source}")]
    Parquet { table: String, source: Box<deltalake::parquet::errors::ParquetError> },
    #[error("table {table}: {reason}")]
    Invalid { table: String, reason: String },
    /// The lake's address is unusable (never shows credentials).
    #[error("lake {location}: {reason}")]
    Location { location: String, reason: String },
    #[error("lake storage at {path}: {source}")]
    Store { path: String, source: Box<deltalake::ObjectStoreError> },
}

impl LakeError {
    /// Storage and Delta failures may heal (a full disk, a commit conflict
    /// with retention); data that does not fit its table never will.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LakeError::Delta { .. } | LakeError::Query { .. } | LakeError::Parquet { .. } | LakeError::Store { .. } => {
                ErrorKind::Infrastructure
            }
            LakeError::Invalid { .. } => ErrorKind::Bug,
            LakeError::Location { .. } => ErrorKind::Configuration,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}
