//! The SQL service's start-up and query errors, each saying whose fault
//! it is ([`ErrorKind`]): what stops the service starting is the
//! operator's, a port already taken may free itself.
//!
//! Protocol-level refusals to a client (`scram`, `frame`, `guard`) are
//! not here: they become SQLSTATEs on the wire and never stop the service.

use std::net::SocketAddr;
use std::path::PathBuf;
use vru_model::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("users file {path}: {message}")]
    Users { path: PathBuf, message: String },
    #[error("audit log {path}: {source}")]
    Audit { path: PathBuf, source: std::io::Error },
    #[error("decoy-salt secret {path}: {source}")]
    Secret { path: PathBuf, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "refusing to listen on {0} without TLS: passwords and results would cross the network in clear. Configure --tls-cert and --tls-key, listen on 127.0.0.1, or pass --allow-insecure-remote"
    )]
    InsecureRemote(SocketAddr),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("starting the query runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Query(Box<vru_queries::QueryError>),
    #[error("SQL: {0}")]
    DataFusion(Box<vru_queries::datafusion::error::DataFusionError>),
    #[error("formatting a result: {0}")]
    Arrow(#[from] vru_queries::datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Invalid(String),
}

impl ServerError {
    /// What stops the service from starting is the operator's to fix; a
    /// query failing is the query's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServerError::Users { .. } | ServerError::Secret { .. } | ServerError::Tls(_) | ServerError::InsecureRemote(_) => {
                ErrorKind::Configuration
            }
            ServerError::Audit { .. } | ServerError::Listen { .. } | ServerError::Runtime(_) => ErrorKind::Infrastructure,
            ServerError::Query(e) => e.kind(),
            ServerError::DataFusion(_) | ServerError::Arrow(_) => ErrorKind::Bug,
            ServerError::Invalid(_) => ErrorKind::Configuration,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

impl From<vru_queries::QueryError> for ServerError {
    fn from(e: vru_queries::QueryError) -> Self {
        ServerError::Query(Box::new(e))
    }
}

impl From<vru_queries::datafusion::error::DataFusionError> for ServerError {
    fn from(e: vru_queries::datafusion::error::DataFusionError) -> Self {
        ServerError::DataFusion(Box::new(e))
    }
}
