//! The audit log: one JSON line per query and per login attempt, refused or
//! not: who, from where, when, how long, how many rows, which tables, and
//! how it ended. Never a result value: the log must be safe to hand to an
//! information-governance reviewer.

use crate::ServerError;
use crate::policy::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Query text longer than this is cut: enough to see what was asked.
const MAX_QUERY_CHARS: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Login,
    Query,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub kind: Kind,
    /// The user name the client gave (also for unknown users).
    pub user: Option<String>,
    pub role: Option<Role>,
    pub client: String,
    pub duration_ms: u64,
    pub rows: u64,
    pub tables: Vec<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl Record {
    pub fn new(kind: Kind, client: String) -> Record {
        Record {
            time: Utc::now(),
            kind,
            user: None,
            role: None,
            client,
            duration_ms: 0,
            rows: 0,
            tables: Vec::new(),
            status: Status::Ok,
            error: None,
            query: None,
        }
    }

    pub fn with_query(mut self, sql: &str) -> Record {
        let mut q: String = sql.chars().take(MAX_QUERY_CHARS).collect();
        if q.len() < sql.len() {
            q.push('…');
        }
        self.query = Some(q);
        self
    }
}

/// Appends records to a JSON-lines file, each written whole and flushed
/// before the client hears the outcome of what it records.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, ServerError> {
        let err = |source| ServerError::Audit { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        Ok(AuditLog { path: path.to_path_buf(), file: Mutex::new(opts.open(path).map_err(err)?) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record. A failure to audit is logged loudly but does not
    /// take the service down.
    pub fn write(&self, record: &Record) {
        let mut line = serde_json::to_vec(record).expect("audit records serialise");
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
        tracing::debug!(user = ?record.user, status = ?record.status, rows = record.rows, ms = record.duration_ms, "audit");
    }
}

/// Reads an audit log back (tests and tooling).
pub fn read(path: &Path) -> Result<Vec<Record>, ServerError> {
    let err = |source| ServerError::Audit { path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(err)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/audit.jsonl");
        let log = AuditLog::open(&p).unwrap();
        let mut r = Record::new(Kind::Query, "127.0.0.1:5".into()).with_query("SELECT 1");
        r.user = Some("bo".into());
        r.role = Some(Role::Analyst);
        r.rows = 1;
        log.write(&r);
        let mut r2 = Record::new(Kind::Login, "127.0.0.1:6".into());
        r2.status = Status::Refused;
        r2.error = Some("wrong password".into());
        log.write(&r2);
        drop(log);
        let back = read(&p).unwrap();
        assert_eq!(back, vec![r, r2]);
        let long = Record::new(Kind::Query, String::new()).with_query(&"x".repeat(10_000));
        assert_eq!(long.query.unwrap().chars().count(), MAX_QUERY_CHARS + 1);
    }
}
