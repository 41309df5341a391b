//! Limits, so one client cannot take the service down: the size of a
//! statement and the shape of its expressions (checked before planning),
//! memory (a share per query of one pool for the service, see
//! [`crate::memory`]), time (per query, and for a login), and the number of
//! prepared statements a connection may hold. Each refusal says which
//! setting it came from.

use crate::ServerError;
use crate::inspect::Complexity;
use crate::memory::{QUERY_LIMIT, SERVICE_LIMIT};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vru_queries::datafusion::execution::disk_manager::{DiskManager, DiskManagerBuilder, DiskManagerMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory one query may hold.
    pub memory_bytes: usize,
    /// Memory all queries together may hold.
    pub total_memory_bytes: usize,
    pub query_timeout: Duration,
    /// The longest statement text accepted.
    pub max_statement_bytes: usize,
    pub max_expression_depth: usize,
    pub max_expression_terms: usize,
    /// Time from connecting to being logged in.
    pub startup_timeout: Duration,
    pub max_prepared_statements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            total_memory_bytes: 2 << 30,
            query_timeout: Duration::from_secs(300),
            max_statement_bytes: 256 << 10,
            max_expression_depth: 1000,
            max_expression_terms: 100_000,
            startup_timeout: Duration::from_secs(5),
            max_prepared_statements: 256,
        }
    }
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

/// Where queries may spill: nowhere (a query that does not fit fails
/// rather than filling the server's disk), or only the configured
/// directory, up to `max_bytes`.
pub fn disk_manager(spill: Option<(&Path, u64)>) -> Result<Arc<DiskManager>, ServerError> {
    let builder = match spill {
        None => DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        Some((dir, max)) => {
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir.to_path_buf()])).with_max_temp_directory_size(max)
        }
    };
    Ok(Arc::new(builder.build()?))
}

impl Limits {
    /// The largest message accepted after login: a statement, or a Bind
    /// carrying its parameters.
    pub fn max_message_bytes(&self) -> usize {
        self.max_statement_bytes.saturating_mul(2).saturating_add(64 << 10)
    }

    pub fn complexity(&self) -> Complexity {
        Complexity { max_depth: self.max_expression_depth, max_terms: self.max_expression_terms }
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

    /// Rewrites DataFusion's resource errors and the guards' refusals into
    /// ones an analyst can act on; passes every other error through.
    pub fn explain(&self, e: PgWireError) -> PgWireError {
        if let PgWireError::ApiError(inner) = &e
            && let Some(u) = find_unsupported(inner.as_ref())
        {
            return user_error("0A000", format!("not supported by the VRU SQL service: {u}"));
        }
        // arrow-pg cannot encode some column types (a list of lists, found
        // by the SQL fuzz) and says so as XX000, an internal error.
        if let PgWireError::UserError(info) = &e
            && info.code == "XX000"
            && info.message.starts_with("Unsupported ")
        {
            let what = info.message.chars().take(300).collect::<String>();
            return user_error("0A000", format!("not supported by the VRU SQL service: {what}: cast the column to text"));
        }
        let text = e.to_string();
        if text.contains("Resources exhausted") || text.contains("ResourcesExhausted") {
            let detail = text.lines().next().unwrap_or_default().chars().take(300).collect::<String>();
            if text.contains(SERVICE_LIMIT) && !text.contains(QUERY_LIMIT) {
                return user_error(
                    "53200",
                    format!(
                        "the service's memory ({} for all queries, server.total_memory_limit) is in use by other queries: try again shortly. Detail: {detail}",
                        human_size(self.total_memory_bytes)
                    ),
                );
            }
            return user_error(
                "53200",
                format!(
                    "query exceeded the per-query memory limit of {} (vru serve --memory-limit): aggregate or filter more before returning rows. Detail: {detail}",
                    human_size(self.memory_bytes)
                ),
            );
        }
        if let PgWireError::ApiError(inner) = &e
            && let Some(code) = mistake_code(inner.as_ref())
        {
            // What is not implemented is said by the root error, not by
            // the optimizer rule that met it.
            let text = match inner.downcast_ref::<vru_queries::datafusion::error::DataFusionError>() {
                Some(df) if code == "0A000" => df.find_root().to_string(),
                _ => inner.to_string(),
            };
            return user_error(code, text.lines().next().unwrap_or_default().chars().take(2000).collect());
        }
        e
    }
}

/// The SQLSTATE of a mistake in the query itself (a table or column that
/// does not exist, types that do not fit), rather than XX000.
fn mistake_code(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use vru_queries::datafusion::common::SchemaError;
    use vru_queries::datafusion::error::DataFusionError;
    let root = e.downcast_ref::<DataFusionError>()?.find_root();
    match root {
        DataFusionError::SchemaError(s, _) => Some(match s.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            _ => "42P18",
        }),
        DataFusionError::Plan(m) if m.starts_with("table '") && m.ends_with("not found") => Some("42P01"),
        DataFusionError::Plan(m) if m.contains("coerce") || m.contains("requires") || m.contains("non-boolean") => Some("42804"),
        DataFusionError::Plan(_) => Some("42000"),
        // Found by the SQL fuzz: `CAST(CAST(x AS DOUBLE) AS DATE)` fails
        // inside the optimizer ("Unsupported CAST from Float64 to Date32").
        DataFusionError::NotImplemented(_) => Some("0A000"),
        // DataFusion reports a function given the wrong types as an
        // internal error when type coercion meets it (also the fuzz's).
        DataFusionError::Internal(m) if m.contains("failed to match any signature") => Some("42883"),
        DataFusionError::ArrowError(a, _) => {
            use vru_queries::datafusion::arrow::error::ArrowError;
            match a.as_ref() {
                ArrowError::CastError(_) => Some("22018"),
                ArrowError::DivideByZero => Some("22012"),
                ArrowError::ArithmeticOverflow(_) => Some("22003"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A guard's refusal somewhere in an error's chain.
fn find_unsupported(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(u) = err.downcast_ref::<crate::guard::Unsupported>() {
            return Some(u.0.clone());
        }
        cur = err.source();
    }
    None
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
    async fn a_query_over_its_share_fails_with_a_clear_message() {
        use vru_queries::datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use vru_queries::datafusion::prelude::{SessionConfig, SessionContext};
        let limits = Limits { memory_bytes: 8 << 20, total_memory_bytes: 64 << 20, ..Limits::default() };
        let service = crate::memory::service_pool(limits.total_memory_bytes);
        let pool = crate::memory::QueryPool::new(service, limits.memory_bytes);
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc().unwrap();
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let sql = "SELECT v, count(*) FROM (SELECT value % 3000000 AS v FROM range(6000000)) GROUP BY v ORDER BY 2 DESC";
        let err = ctx.sql(sql).await.unwrap().collect().await.unwrap_err();
        let e = limits.explain(PgWireError::ApiError(Box::new(err)));
        let (code, message) = describe(&e);
        assert_eq!(code, "53200", "{message}");
        assert!(message.contains("memory limit of 8 MiB"), "{message}");
    }
}
