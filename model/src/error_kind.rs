//! Whose fault an error is, so each crate's errors can say it the same way
//! (`kind()`) and callers decide alike whether to retry (`retryable()`)
//! and whom to tell: a partner fixes its data, an operator its
//! configuration, infrastructure heals or is mended, a bug is ours.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
