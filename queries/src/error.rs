//! The query crate's errors, each saying whose fault it is
//! ([`ErrorKind`]): the measure SQL failing is ours, a bad option the
//! caller's, the lake failing to read may heal.

use vru_model::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("SQL: {0}{hint}", hint = operator_hint(.0))]
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
    /// Writing the session's scratch files (`measures.scratch_dir`).
    #[error("scratch directory {dir}: {message}")]
    Scratch { dir: std::path::PathBuf, message: String, kind: std::io::ErrorKind },
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
            // A directory that is missing, not a directory or not ours to
            // write is the setting's fault; a full disk may heal.
            QueryError::Scratch { kind, .. } => io_kind(*kind),
            QueryError::DataFusion(e) if out_of_memory(e) => ErrorKind::Configuration,
            // A query that spills onto a full disk, or reads a file that
            // failed under it, is not a fault in the SQL.
            QueryError::DataFusion(e) => match io_cause(e) {
                Some(io) => io_kind(io.kind()),
                None => ErrorKind::Bug,
            },
            QueryError::Arrow(_) | QueryError::View { .. } => ErrorKind::Bug,
            QueryError::Disclosure(e) => e.kind(),
        }
    }

    /// An I/O failure on the session's scratch directory, with the
    /// setting that moves it.
    pub(crate) fn scratch(dir: &std::path::Path, e: std::io::Error) -> Self {
        QueryError::Scratch { dir: dir.to_path_buf(), message: format!("{e} (measures.scratch_dir sets where it is)"), kind: e.kind() }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

/// A directory that is missing, not a directory or not ours to write is
/// the setting's fault; a full disk may heal.
fn io_kind(kind: std::io::ErrorKind) -> ErrorKind {
    match kind {
        std::io::ErrorKind::PermissionDenied
        | std::io::ErrorKind::NotADirectory
        | std::io::ErrorKind::AlreadyExists
        | std::io::ErrorKind::ReadOnlyFilesystem => ErrorKind::Configuration,
        _ => ErrorKind::Infrastructure,
    }
}

/// The I/O error under a DataFusion error, however deep: spill files fail
/// as `IoError`, Arrow IPC as `ArrowError::IoError`, Parquet as
/// `ParquetError::External`, each wrapped in contexts.
fn io_cause(e: &datafusion::error::DataFusionError) -> Option<&std::io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = c.source();
    }
    None
}

/// A query that needed more than the session's memory pool (`measures.memory_limit`) and could not spill.
fn out_of_memory(e: &datafusion::error::DataFusionError) -> bool {
    matches!(e.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_))
}

/// What the operator can do about a query that ran out of memory (the
/// limit is theirs to set, so it is not reported as a bug) or out of disk.
fn operator_hint(e: &datafusion::error::DataFusionError) -> &'static str {
    if out_of_memory(e) {
        " (the query needed more memory than the session may hold and could not spill the rest: with measures.scratch_dir set, raise \
         measures.memory_limit, e.g. VRU_MEASURES__MEMORY_LIMIT=1GiB; without one, queries hold at most half the machine's memory and \
         never spill: set measures.scratch_dir to let them)"
    } else if io_cause(e).is_some() {
        " (an I/O failure: a query spills to measures.scratch_dir, so check that disk's space)"
    } else {
        ""
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::error::DataFusionError;

    /// Running out of the configured memory is the operator's to fix, and
    /// the message names the setting; other SQL failures stay ours.
    #[test]
    fn out_of_memory_names_the_setting() {
        let e = QueryError::from(DataFusionError::ResourcesExhausted("Failed to allocate 4 MB".into()).context("external sort"));
        assert_eq!(e.kind(), ErrorKind::Configuration);
        assert!(e.to_string().contains("measures.memory_limit"), "{e}");
        let full = QueryError::scratch(std::path::Path::new("/s"), std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(full.kind(), ErrorKind::Infrastructure, "a full disk may heal: {full}");
        let denied = QueryError::scratch(std::path::Path::new("/s"), std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::Configuration, "{denied}");
        assert!(denied.to_string().contains("measures.scratch_dir"), "{denied}");
        let spill = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let spill = QueryError::from(
            DataFusionError::ArrowError(Box::new(datafusion::arrow::error::ArrowError::IoError("spill".into(), spill)), None)
                .context("external sort"),
        );
        assert_eq!(spill.kind(), ErrorKind::Infrastructure, "{spill}");
        assert!(spill.to_string().contains("measures.scratch_dir"), "{spill}");
        let other = QueryError::from(DataFusionError::Plan("no such column".into()));
        assert_eq!(other.kind(), ErrorKind::Bug);
        assert!(!other.to_string().contains("memory_limit"), "{other}");
    }
}
