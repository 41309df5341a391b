//! Metrics for the person running the service: a Prometheus text endpoint
//! (`/metrics`) and a liveness check (`/health`) on their own address
//! (`server.metrics_listen`), apart from the SQL port.
//!
//! Counted where the audit log is written ([`crate::audit::AuditLog`]):
//! every login, query and refused connection already passes there once,
//! with its role and how it ended, so the metrics and the audit log cannot
//! disagree. Labels are kinds, roles and outcomes only: never a user name
//! or a query text (they are in the audit log, for those allowed to read
//! it).

use crate::audit::{Kind, Record, Status};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
    role: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

/// The service's counters.
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    rows: Family<RoleLabel, Counter>,
    durations: Family<RoleLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("vru_sql");
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events", "Logins, queries and turned-away connections, by role and outcome", events.clone());
        let rows = Family::<RoleLabel, Counter>::default();
        registry.register("rows", "Rows returned to clients", rows.clone());
        let durations = Family::<RoleLabel, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 4.0, 10)));
        registry.register("query_duration_seconds", "Query duration, from start to its last row", durations.clone());
        Metrics { registry, events, rows, durations }
    }

    /// Counts one audit record.
    pub fn observe(&self, r: &Record) {
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
        let role = r.role.map_or("none", |r| r.as_str());
        self.events.get_or_create(&EventLabels { kind, role, outcome }).inc();
        if r.kind == Kind::Query {
            self.rows.get_or_create(&RoleLabel { role }).inc_by(r.rows);
            self.durations.get_or_create(&RoleLabel { role }).observe(r.duration_ms as f64 / 1000.0);
        }
    }

    /// The Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Serves `/metrics` and `/health` on `listener` until the process ends:
/// one short request per connection, anything else is 404.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, kind, body) = match path {
                "/metrics" => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.text()),
                "/health" => ("200 OK", "text/plain", "ok\n".to_string()),
                _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_moves_its_counters_and_no_name_or_text_is_a_label() {
        let m = Metrics::new();
        let mut r = Record::new(Kind::Query, "127.0.0.1:1".into()).with_query("SELECT secret FROM t");
        r.user = Some("ana".into());
        r.role = Some(crate::policy::Role::Analyst);
        r.rows = 7;
        r.duration_ms = 12;
        m.observe(&r);
        m.observe(&r);
        let text = m.text();
        assert!(text.contains(r#"vru_sql_events_total{kind="query",role="analyst",outcome="ok"} 2"#), "{text}");
        assert!(text.contains(r#"vru_sql_rows_total{role="analyst"} 14"#), "{text}");
        assert!(text.contains(r#"vru_sql_query_duration_seconds_count{role="analyst"} 2"#), "{text}");
        assert!(!text.contains("ana\"") && !text.contains("secret"), "{text}");
    }
}
