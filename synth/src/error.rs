//! The generator's one error type, classified like every crate's
//! ([`ErrorKind`]), so `vru generate` says whom to tell.

use vru_model::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write CSV {path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("invalid city configuration: {0}")]
    Config(String),
}

impl SynthError {
    /// A disk that cannot be written may be freed; a city that cannot be
    /// built is the operator's to change.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SynthError::Io { .. } | SynthError::Csv { .. } => ErrorKind::Infrastructure,
            SynthError::Config(_) => ErrorKind::Configuration,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}
