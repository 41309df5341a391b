//! Whose fault an error is, so each crate's errors say it the same way
//! (`kind()`) and callers decide alike whether to retry (`retryable()`)
//! and whom to tell: a partner fixes its data, an operator its
//! configuration, infrastructure heals or is mended, a bug is ours. And
//! the model's own errors, each with its kind, but for those that name
//! another module's types (`event::DecodeError`, `pseudonym::KeyError`):
//! they stay beside them, so this module imports none of the model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A partner's file or message: fixed by the partner, never by retrying.
    PartnerData,
    /// How this deployment is set up (two writers, retention shorter than
    /// lag, a bad option): fixed by an operator.
    Configuration,
    /// A broker, disk or network failing: may heal, so worth retrying.
    Infrastructure,
    /// Something our own code should never do.
    Bug,
}

impl ErrorKind {
    /// Only infrastructure heals by itself.
    pub fn retryable(&self) -> bool {
        *self == ErrorKind::Infrastructure
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a financial year: write it as 2023/24 (1 April 2023 to 31 March 2024)")]
pub struct PeriodError(pub String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a year: write a financial year as 2023/24 (1 April 2023 to 31 March 2024) or a calendar year as 2023")]
pub struct YearError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("definition file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("definition `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error("no built-in definition named `{0}` (built in: local; or pass a definition file path)")]
    Unknown(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The TOML itself; its text names the line and column.
    #[error("{file}: {source}")]
    Toml { file: String, source: Box<toml::de::Error> },
    #[error("{file}:{line}: {reason}")]
    Invalid { file: String, line: usize, reason: String },
    #[error("no built-in retention policy named `{0}` (built in: default; or give a policy file path)")]
    Unknown(String),
}

impl PeriodError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl YearError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl DefinitionError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl PolicyError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}
