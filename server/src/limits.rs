//! Limits, so one query cannot take the service down: a memory pool and a
//! time limit per query. A connection runs one query at a time, so each
//! connection gets its own pool of the configured size: a query over it
//! fails with a clear message while other connections go on. Spilling to
//! disk is off: a query that does not fit fails rather than filling the
//! server's disk.

use crate::ServerError;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use vru_queries::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use vru_queries::datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use vru_queries::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use vru_queries::datafusion::execution::session_state::SessionStateBuilder;
use vru_queries::datafusion::prelude::SessionContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    pub query_timeout: Duration,
}

/// `512MiB`, `2G`, `64 MB`, `1048576`: binary units whichever is written.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 512MiB, 2GiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{s:?}: unknown size unit (use KiB, MiB, GiB)")),
    };
    let bytes = (n * mult) as usize;
    if bytes < 1024 * 1024 {
        return Err(format!("{s:?} is below the minimum of 1MiB"));
    }
    Ok(bytes)
}

/// `300s`, `5m`, `1500ms`, `1h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 300s, 5m)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown duration unit (use ms, s, m, h)")),
    };
    if secs <= 0.0 {
        return Err(format!("{s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn human_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= 1024 * MIB && bytes.is_multiple_of(1024 * MIB) {
        format!("{} GiB", bytes / (1024 * MIB))
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

impl Limits {
    /// A runtime for one connection: its own bounded pool, no spilling,
    /// the lake's object stores and caches shared with the base session.
    pub fn runtime(&self, base: &RuntimeEnv) -> Result<Arc<RuntimeEnv>, ServerError> {
        let pool = TrackConsumersPool::new(GreedyMemoryPool::new(self.memory_bytes), NonZeroUsize::new(3).expect("non-zero"));
        Ok(RuntimeEnvBuilder::from_runtime_env(base)
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()?)
    }

    /// The role's session with this connection's runtime: the same tables,
    /// views and functions, a separate memory pool.
    pub fn bind(&self, role_ctx: &SessionContext, runtime: Arc<RuntimeEnv>) -> SessionContext {
        SessionContext::new_with_state(SessionStateBuilder::new_from_existing(role_ctx.state()).with_runtime_env(runtime).build())
    }

    pub fn timeout_error(&self) -> PgWireError {
        user_error(
            "57014",
            format!(
                "canceling statement: it ran longer than the server's limit of {} s (vru serve --query-timeout); narrow the query or ask the administrator",
                self.query_timeout.as_secs_f64()
            ),
        )
    }

    /// Rewrites DataFusion's resource error into one an analyst can act on;
    /// passes every other error through.
    pub fn explain(&self, e: PgWireError) -> PgWireError {
        let text = e.to_string();
        if text.contains("Resources exhausted") || text.contains("ResourcesExhausted") {
            let detail = text.lines().next().unwrap_or_default().chars().take(300).collect::<String>();
            return user_error(
                "53200",
                format!(
                    "query exceeded the per-query memory limit of {} (vru serve --memory-limit): aggregate or filter more before returning rows. Detail: {detail}",
                    human_size(self.memory_bytes)
                ),
            );
        }
        e
    }
}

pub fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".to_owned(), code.to_owned(), message)))
}

/// The SQLSTATE and message a client will see for an error.
pub fn describe(e: &PgWireError) -> (String, String) {
    match e {
        PgWireError::UserError(info) => (info.code.clone(), info.message.clone()),
        other => ("XX000".to_string(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("64 MB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("10").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("300s").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("0s").is_err());
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(64 << 20), "64 MiB");
    }

    #[tokio::test]
    async fn a_query_over_the_pool_fails_with_a_clear_message() {
        let limits = Limits { memory_bytes: 8 << 20, query_timeout: Duration::from_secs(30) };
        let base = SessionContext::new();
        let ctx = limits.bind(&base, limits.runtime(&base.runtime_env()).unwrap());
        let sql = "SELECT v, count(*) FROM (SELECT value % 3000000 AS v FROM range(6000000)) GROUP BY v ORDER BY 2 DESC";
        let err = ctx.sql(sql).await.unwrap().collect().await.unwrap_err();
        let e = limits.explain(PgWireError::ApiError(Box::new(err)));
        let (code, message) = describe(&e);
        assert_eq!(code, "53200", "{message}");
        assert!(message.contains("memory limit of 8 MiB"), "{message}");
        // The base session has no such limit.
        assert!(base.sql("SELECT count(*) FROM range(1000)").await.unwrap().collect().await.is_ok());
    }
}
