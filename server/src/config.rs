//! The SQL service's section of the configuration (`[server]`), and how it
//! becomes [`ServeOptions`]: sizes and durations are parsed here, with
//! errors naming the key, so every way of starting the service (the CLI,
//! a test, another program) checks them the same way. The binary composes
//! it into its one layered configuration.

use crate::limits::{self, Limits};
use crate::{AdmissionLimits, ServeOptions, ServerError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// host:port to listen on. A non-loopback address needs TLS (or
    /// `allow_insecure_remote`).
    pub listen: String,
    /// host:port for Prometheus `/metrics` and `/health` (counts by kind,
    /// role and outcome; no names, no query text). None: not served.
    pub metrics_listen: Option<String>,
    /// Users, roles and SCRAM verifiers (default `<data_dir>/server/users.toml`).
    pub users_file: Option<PathBuf>,
    /// PEM certificate chain and private key; with them, remote clients
    /// must use TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS.
    pub allow_insecure_remote: bool,
    /// Memory one query may use (`512MiB`, `2GiB`); over it the query fails.
    pub memory_limit: String,
    /// Memory all queries together may use: one pool for the service, of
    /// which each query takes up to `memory_limit`.
    pub total_memory_limit: String,
    /// Time one query may run (`300s`, `5m`); past it the query is cancelled.
    pub query_timeout: String,
    /// The longest statement text accepted, in bytes; longer messages are
    /// refused as they arrive, before they are buffered.
    pub max_statement_bytes: usize,
    /// How deep expressions (and UNIONs) may nest, after long AND/OR chains
    /// are rebalanced; deeper statements are refused (SQLSTATE 54001).
    pub max_expression_depth: usize,
    /// How many expression terms a statement may have (54001 beyond).
    pub max_expression_terms: usize,
    /// Time from connecting to being logged in (`5s`).
    pub startup_timeout: String,
    /// Connections open at once from one address.
    pub max_connections_per_address: usize,
    /// Failed logins from one address within a minute before it backs off
    /// (1 s, doubling to 60 s).
    pub failed_logins_before_backoff: usize,
    /// Prepared statements one connection may hold.
    pub max_prepared_statements: usize,
    /// Where queries may spill to disk; unset, they never spill and a query
    /// that does not fit its memory fails.
    pub spill_dir: Option<PathBuf>,
    /// How much they may spill there in all (`10GiB`).
    pub spill_limit: String,
    /// Threads that plan and run queries (0: one per core).
    pub query_threads: usize,
    /// Audit log, one JSON line per query and login (default
    /// `<data_dir>/server/audit.jsonl`).
    pub audit_file: Option<PathBuf>,
    /// How often, at most, the lake is checked for new commits.
    pub refresh_ms: u64,
    /// Connections open at once; more are turned away.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5433".into(),
            metrics_listen: None,
            users_file: None,
            tls_cert: None,
            tls_key: None,
            allow_insecure_remote: false,
            memory_limit: "1GiB".into(),
            total_memory_limit: "2GiB".into(),
            query_timeout: "300s".into(),
            max_statement_bytes: 256 << 10,
            max_expression_depth: 1000,
            max_expression_terms: 100_000,
            startup_timeout: "5s".into(),
            max_connections_per_address: 32,
            failed_logins_before_backoff: 5,
            max_prepared_statements: 256,
            spill_dir: None,
            spill_limit: "10GiB".into(),
            query_threads: 0,
            audit_file: None,
            refresh_ms: 2_000,
            max_connections: 64,
        }
    }
}

/// What the service needs besides its own section: where the users file,
/// the audit log and the decoy-salt secret are, and the disclosure
/// protection of the role sessions.
pub struct ServicePaths {
    pub users: PathBuf,
    pub audit: PathBuf,
    pub secret: PathBuf,
    pub protection: vru_queries::disclosure::Protection,
}

fn invalid(key: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Invalid(format!("server.{key}: {e}"))
}

impl ServerConfig {
    /// The per-query and service limits, parsed and checked.
    pub fn limits(&self) -> Result<Limits, ServerError> {
        let size = |key: &str, v: &str| limits::parse_size(v).map_err(|e| invalid(key, e));
        let duration = |key: &str, v: &str| limits::parse_duration(v).map_err(|e| invalid(key, e));
        let l = Limits {
            memory_bytes: size("memory_limit", &self.memory_limit)?,
            total_memory_bytes: size("total_memory_limit", &self.total_memory_limit)?,
            query_timeout: duration("query_timeout", &self.query_timeout)?,
            max_statement_bytes: self.max_statement_bytes,
            max_expression_depth: self.max_expression_depth,
            max_expression_terms: self.max_expression_terms,
            startup_timeout: duration("startup_timeout", &self.startup_timeout)?,
            max_prepared_statements: self.max_prepared_statements,
        };
        if l.total_memory_bytes < l.memory_bytes {
            return Err(ServerError::Invalid(format!(
                "the total memory limit ({}) is below the per-query one ({}): no query could use its share",
                limits::human_size(l.total_memory_bytes),
                limits::human_size(l.memory_bytes)
            )));
        }
        if l.max_statement_bytes < 1024 {
            return Err(invalid("max_statement_bytes", "must be at least 1024"));
        }
        Ok(l)
    }

    /// Everything [`crate::Server::bind`] needs.
    pub fn serve_options(&self, paths: ServicePaths) -> Result<ServeOptions, ServerError> {
        let listen: SocketAddr = self.listen.parse().map_err(|e| invalid("listen", format!("{:?} is not host:port ({e})", self.listen)))?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => return Err(ServerError::Tls("TLS needs both a certificate and a key (--tls-cert, --tls-key)".into())),
        };
        let spill = match &self.spill_dir {
            Some(dir) => Some((dir.clone(), limits::parse_size(&self.spill_limit).map_err(|e| invalid("spill_limit", e))? as u64)),
            None => None,
        };
        let metrics_listen = match &self.metrics_listen {
            Some(m) => Some(m.parse().map_err(|e| invalid("metrics_listen", format!("{m:?} is not host:port ({e})")))?),
            None => None,
        };
        Ok(ServeOptions {
            listen,
            users: paths.users,
            tls,
            allow_insecure_remote: self.allow_insecure_remote,
            limits: self.limits()?,
            admission: AdmissionLimits {
                max_connections: self.max_connections,
                max_per_address: self.max_connections_per_address,
                failures_before_backoff: self.failed_logins_before_backoff,
            },
            audit: paths.audit,
            secret: paths.secret,
            spill,
            refresh: Duration::from_millis(self.refresh_ms),
            query_threads: match self.query_threads {
                0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
                n => n,
            },
            protection: paths.protection,
            metrics_listen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> ServicePaths {
        ServicePaths { users: "u".into(), audit: "a".into(), secret: "s".into(), protection: Default::default() }
    }

    #[test]
    fn defaults_make_options_and_mistakes_name_their_key() {
        let o = ServerConfig::default().serve_options(paths()).unwrap();
        assert_eq!(o.listen.to_string(), "127.0.0.1:5433");
        assert_eq!(o.limits.memory_bytes, 1 << 30);
        for (change, key) in [
            (ServerConfig { memory_limit: "lots".into(), ..Default::default() }, "server.memory_limit"),
            (ServerConfig { query_timeout: "soon".into(), ..Default::default() }, "server.query_timeout"),
            (ServerConfig { listen: "5433".into(), ..Default::default() }, "server.listen"),
            (ServerConfig { max_statement_bytes: 10, ..Default::default() }, "server.max_statement_bytes"),
            (ServerConfig { metrics_listen: Some("x".into()), ..Default::default() }, "server.metrics_listen"),
        ] {
            let e = change.serve_options(paths()).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        let e = ServerConfig { memory_limit: "3GiB".into(), ..Default::default() }.limits().unwrap_err().to_string();
        assert!(e.contains("below the per-query one"), "{e}");
    }
}
