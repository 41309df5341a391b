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

    /// Counts one event: `kind` (login, query, connection), the role and
    /// the outcome; a query also adds its rows and duration.
    pub fn observe(&self, kind: &'static str, role: &'static str, outcome: &'static str, query: Option<(u64, f64)>) {
        self.events.get_or_create(&EventLabels { kind, role, outcome }).inc();
        if let Some((rows, seconds)) = query {
            self.rows.get_or_create(&RoleLabel { role }).inc_by(rows);
            self.durations.get_or_create(&RoleLabel { role }).observe(seconds);
        }
    }

    /// The Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Serves the SQL service's `/metrics` and `/health` on `listener`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    serve_text(listener, Arc::new(move || metrics.text())).await
}

/// Serves `/metrics` (what `render` gives at each scrape) and `/health` on
/// `listener` until the process ends: one short request per connection,
/// anything else is 404. Also used by the pipeline commands for their own
/// counters.
pub async fn serve_text(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, kind, body) = match path {
                "/metrics" => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", render()),
                "/health" => ("200 OK", "text/plain", "ok\n".to_string()),
                _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        });
    }
}
