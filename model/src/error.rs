//! Whose fault an error is, so each crate's errors say it the same way
//! (`kind()`) and callers decide alike whether to retry (`retryable()`)
//! and whom to tell: a partner fixes its data, an operator its
//! configuration, infrastructure heals or is mended, a bug is ours. And
//! the model's own errors, each with its kind.

use crate::event::{Kind, WIRE_VERSION};
use crate::pseudonym::MIN_KEY_BYTES;

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the pseudonym key must be hex text of at least {MIN_KEY_BYTES} bytes ({hex} hex digits); got {0} bytes", hex = MIN_KEY_BYTES * 2)]
    TooShort(usize),
    #[error("the pseudonym key file must contain hex digits only (generate one with `vru pseudonymise --new-key FILE`)")]
    NotHex,
}

/// Why a message could not become an event. Goes with the message to the
/// dead-letter topic, so it must say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON event object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("wire version {0} is not understood by this normaliser (it reads version {WIRE_VERSION})")]
    WireVersion(u32),
    #[error("attributes do not match kind `{kind}`: {source}")]
    Attributes { kind: Kind, source: serde_json::Error },
    #[error("invalid envelope: {0}")]
    Envelope(String),
}

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

impl KeyError {
    /// The key file is set up by an operator.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Configuration
    }
}

impl DecodeError {
    /// A message that does not decode is its producer's fault, never healed
    /// by reading it again: it goes to the dead-letter topic.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::PartnerData
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
