//! The audit log: one JSON line per login attempt, per refused connection,
//! and two per query: `query_start` before anything runs (who, the text up
//! to a limit with a SHA-256 of all of it, the statement kinds and tables
//! read from the parsed statement, so a long leading comment hides
//! nothing) and `query` when it ends (how long, how many rows, how it
//! ended). Never a result value: the log must be safe to hand to an
//! information-governance reviewer.
//!
//! Writing fails closed: a query whose start record cannot be written is
//! refused, as is a login whose record cannot be written. The file is
//! reopened when it has been moved away (log rotation).

use crate::ServerError;
use crate::policy::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Query text longer than this is cut: enough to see what was asked.
const MAX_QUERY_CHARS: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Login,
    /// Written before a query runs.
    QueryStart,
    /// Written when a query has ended (or was refused before starting).
    Query,
    /// A connection turned away or ended by the server (slots, throttling,
    /// oversized messages, startup timeout, a removed user).
    Connection,
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
    /// Joins a `query_start` record to its `query` record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<u64>,
    /// SHA-256 of the whole query text, however long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Bytes in the whole query text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_bytes: Option<usize>,
    /// What the parsed statements are (`SELECT`, `SET`, `CREATE TABLE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<String>,
    /// Earlier records of the same kind from the same address not written
    /// separately (a flood of refused connections is summarised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeated: Option<u64>,
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
            query_id: None,
            sha256: None,
            query_bytes: None,
            statements: Vec::new(),
            repeated: None,
        }
    }

    /// The text up to `MAX_QUERY_CHARS`, its size and its SHA-256.
    pub fn with_query(mut self, sql: &str) -> Record {
        let mut q: String = sql.chars().take(MAX_QUERY_CHARS).collect();
        if q.len() < sql.len() {
            q.push('…');
        }
        self.query = Some(q);
        self.sha256 = Some(hex::encode(Sha256::digest(sql.as_bytes())));
        self.query_bytes = Some(sql.len());
        self
    }
}

/// The open file and which file it is, to notice rotation.
struct Open {
    file: std::fs::File,
    id: Option<(u64, u64)>,
}

/// Appends records to a JSON-lines file, each written whole before the
/// client hears the outcome of what it records.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<Open>>,
    /// Counted from the same records ([`crate::metrics`]).
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

fn open_append(path: &Path) -> std::io::Result<Open> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(path)?;
    let id = file.metadata().ok().and_then(|m| file_id(&m));
    Ok(Open { file, id })
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, ServerError> {
        let open = open_append(path).map_err(|source| ServerError::Audit { path: path.to_path_buf(), source })?;
        Ok(AuditLog { path: path.to_path_buf(), file: Mutex::new(Some(open)), metrics: Default::default() })
    }

    /// The counters kept from the records this log writes.
    pub fn metrics(&self) -> std::sync::Arc<crate::metrics::Metrics> {
        self.metrics.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record. The caller decides what a failure means (a query
    /// or login is refused); it is also logged here.
    pub fn write(&self, record: &Record) -> std::io::Result<()> {
        observe(&self.metrics, record);
        let mut line = serde_json::to_vec(record).expect("audit records serialise");
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            // Moved away or replaced (rotation): write to the file now at
            // the path, creating it.
            let current = std::fs::metadata(&self.path).ok().and_then(|m| file_id(&m));
            if guard.as_ref().is_none_or(|o| current.is_none() || o.id != current) {
                *guard = None;
                *guard = Some(open_append(&self.path)?);
            }
            guard.as_mut().expect("opened above").file.write_all(&line)
        })();
        if let Err(e) = &result {
            tracing::error!(path = %self.path.display(), "cannot write the audit log, refusing what it would record: {e}");
        }
        tracing::debug!(kind = ?record.kind, user = ?record.user, status = ?record.status, rows = record.rows, ms = record.duration_ms, "audit");
        result
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

/// Counts a record in the metrics (the start of a query is counted when it ends).
fn observe(metrics: &crate::metrics::Metrics, r: &Record) {
    let kind = match r.kind {
        Kind::Login => "login",
        Kind::QueryStart => return,
        Kind::Query => "query",
        Kind::Connection => "connection",
    };
    let outcome = match r.status {
        Status::Ok => "ok",
        Status::Error => "error",
        Status::Refused => "refused",
    };
    let query = (r.kind == Kind::Query).then(|| (r.rows, r.duration_ms as f64 / 1000.0));
    metrics.observe(kind, r.role.map_or("none", |r| r.as_str()), outcome, query);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_moves_its_counters_and_no_name_or_text_is_a_label() {
        let m = crate::metrics::Metrics::new();
        let mut r = Record::new(Kind::Query, "127.0.0.1:1".into()).with_query("SELECT secret FROM t");
        r.user = Some("ana".into());
        r.role = Some(Role::Analyst);
        r.rows = 7;
        r.duration_ms = 12;
        observe(&m, &r);
        observe(&m, &r);
        let text = m.text();
        assert!(text.contains(r#"vru_sql_events_total{kind="query",role="analyst",outcome="ok"} 2"#), "{text}");
        assert!(text.contains(r#"vru_sql_rows_total{role="analyst"} 14"#), "{text}");
        assert!(text.contains(r#"vru_sql_query_duration_seconds_count{role="analyst"} 2"#), "{text}");
        assert!(!text.contains("ana\"") && !text.contains("secret"), "{text}");
    }

    #[test]
    fn records_append_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/audit.jsonl");
        let log = AuditLog::open(&p).unwrap();
        let mut r = Record::new(Kind::Query, "127.0.0.1:5".into()).with_query("SELECT 1");
        r.user = Some("bo".into());
        r.role = Some(Role::Analyst);
        r.rows = 1;
        log.write(&r).unwrap();
        let mut r2 = Record::new(Kind::Login, "127.0.0.1:6".into());
        r2.status = Status::Refused;
        r2.error = Some("wrong password".into());
        log.write(&r2).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back, vec![r.clone(), r2.clone()]);
        let long = Record::new(Kind::Query, String::new()).with_query(&"x".repeat(10_000));
        assert_eq!(long.query.unwrap().chars().count(), MAX_QUERY_CHARS + 1);
        assert_eq!(long.query_bytes, Some(10_000));
        assert_eq!(long.sha256.unwrap(), hex::encode(Sha256::digest("x".repeat(10_000).as_bytes())));

        // Rotated away: the next record starts a new file.
        std::fs::rename(&p, dir.path().join("a/audit.jsonl.1")).unwrap();
        log.write(&r).unwrap();
        assert_eq!(read(&p).unwrap(), vec![r.clone()]);
        // Something that cannot be written in its place: the write fails.
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
        assert!(log.write(&r).is_err());
        std::fs::remove_dir(&p).unwrap();
        log.write(&r2).unwrap();
        assert_eq!(read(&p).unwrap(), vec![r2]);
    }
}
