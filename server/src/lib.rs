//! The SQL service: the lake over the PostgreSQL wire protocol, for
//! analysts' own tools (psql, DBeaver, pandas, R), on the same DataFusion
//! session the reports use, bounded so that no client, hostile or careless,
//! can take it down, stall it, write through it, or go unaudited.
//!
//! | module | job |
//! |---|---|
//! | [`users`] | the users file: roles and SCRAM verifiers, never passwords |
//! | [`scram`] | SCRAM-SHA-256(-PLUS) against stored verifiers |
//! | [`tls`] | the TLS acceptor and the certificate's channel-binding hash |
//! | [`auth`] | the login handshake; refusals audited; the decoy secret |
//! | [`admission`] | connection slots, per address, and login back-off |
//! | [`frame`] | the message size limit, on the wire before buffering |
//! | [`wire`] | one connection's loop: startup timeout, login first, ending sessions |
//! | [`query`] | the simple and extended protocol handlers |
//! | [`policy`] | roles, the statement allow-list, table checks |
//! | [`inspect`] | a statement's shape: nesting, terms, tables, hidden writes |
//! | [`exec`] | the query runtime: parsing, planning and running off the I/O threads |
//! | [`memory`] | one pool for the service, a share per query, unaccounted memory |
//! | [`guard`] | bounds on what expressions and operators build |
//! | [`cooperate`] | yield points in operators that compute long inside one poll |
//! | [`catalog`] | one session per role, rebuilt and warmed when the lake moves on |
//! | [`limits`] | the limits, and errors an analyst can act on |
//! | [`audit`] | the JSON-lines audit log, written first, failing closed |
//! | [`handler`] | what a connection and the service share |

pub mod admission;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod cooperate;
pub mod cursor;
mod error;
pub mod exec;
pub mod fanout;
pub mod frame;
pub mod guard;
pub mod handler;
pub mod inspect;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod pg_compat;
pub mod pg_rewrite;
pub mod pg_weak;
pub mod policy;
pub mod query;
pub mod scram;
pub mod tls;
pub mod users;
pub mod wire;

pub use admission::AdmissionLimits;
pub use error::ServerError;
pub use limits::Limits;
pub use policy::Role;

use admission::Admission;
use audit::Status;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use handler::{Conn, Shared};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use vru_queries::SessionOptions;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub users: PathBuf,
    /// Certificate chain and private key, PEM.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub allow_insecure_remote: bool,
    pub limits: Limits,
    pub admission: AdmissionLimits,
    pub audit: PathBuf,
    /// The decoy-salt secret, made on first start.
    pub secret: PathBuf,
    /// Where queries may spill, and how much; `None`: nowhere.
    pub spill: Option<(PathBuf, u64)>,
    /// How often, at most, the lake is checked for new commits.
    pub refresh: Duration,
    /// Worker threads of the query runtime.
    pub query_threads: usize,
    /// Protection levels of the partner and publisher measures.
    pub protection: vru_queries::disclosure::Protection,
    /// Where `/metrics` and `/health` are served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

/// How often the users file is checked, so a removed user's sessions end
/// within a second.
const USERS_POLL: Duration = Duration::from_millis(250);

pub struct Server {
    listener: TcpListener,
    metrics: Option<TcpListener>,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
}

impl Server {
    /// Checks the settings, opens the users file and the audit log, builds
    /// the first session over the lake and binds the port.
    pub async fn bind(opts: &ServeOptions, session: SessionOptions) -> Result<Server, ServerError> {
        if opts.tls.is_none() && !opts.listen.ip().is_loopback() && !opts.allow_insecure_remote {
            return Err(ServerError::InsecureRemote(opts.listen));
        }
        let (tls, channel_binding) = match &opts.tls {
            Some((c, k)) => {
                let (a, b) = tls::acceptor(c, k)?;
                (Some(a), b)
            }
            None => (None, None),
        };
        let users = users::Users::open(opts.users.clone())?;
        if users.count() == 0 {
            tracing::warn!(
                "no users in {}: every login will be refused. Add one with `vru user add NAME --role analyst`",
                opts.users.display()
            );
        }
        let audit = audit::AuditLog::open(&opts.audit)?;
        memory::limit_malloc_arenas();
        let secret = auth::load_or_create_secret(&opts.secret)?;
        let limits = opts.limits;
        let disk = limits::disk_manager(opts.spill.as_ref().map(|(d, m)| (d.as_path(), *m)))?;
        let engine =
            exec::Engine::new(opts.query_threads, memory::service_pool(limits.total_memory_bytes), disk).map_err(ServerError::Runtime)?;
        let catalogs = catalog::Catalogs::new(session, opts.refresh, opts.protection).await?;
        let listener = TcpListener::bind(opts.listen).await.map_err(|source| ServerError::Listen { addr: opts.listen, source })?;
        let shared = Arc::new(Shared::new(
            catalogs,
            users,
            audit,
            limits,
            engine,
            Admission::new(opts.admission),
            secret,
            tls.is_some(),
            channel_binding,
        ));
        let metrics = match opts.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| ServerError::Listen { addr, source })?),
            None => None,
        };
        Ok(Server { listener, metrics, tls, shared })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(|e| ServerError::Invalid(e.to_string()))
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes. A connection's failure ends that
    /// connection only.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), ServerError> {
        if let Some(l) = self.metrics.take() {
            tokio::spawn(metrics::serve(l, self.shared.audit.metrics()));
        }
        let cancel = Arc::new(DefaultCancelHandler::new(self.shared.connections.clone()));
        // The lake's new commits, served from the query runtime and warmed
        // on the background one, outside any user's query.
        let refresher = {
            let shared = self.shared.clone();
            self.shared.engine.handle().spawn(async move { shared.catalogs.keep_fresh().await })
        };
        let warmer = {
            let shared = self.shared.clone();
            self.shared.engine.background().spawn(async move { shared.catalogs.keep_warm().await })
        };
        let watcher = {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(USERS_POLL);
                loop {
                    tick.tick().await;
                    if shared.users.reload() {
                        let ended = shared.sessions.end_unless(|p| shared.users.still_allowed(p));
                        if ended > 0 {
                            tracing::warn!(sessions = ended, "users file changed: sessions of removed or changed users ended");
                        }
                    }
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            let (socket, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                },
            };
            let _ = socket.set_nodelay(true);
            let shared = self.shared.clone();
            let ticket = match shared.admission.admit(peer.ip()) {
                Ok(t) => t,
                Err(why) => {
                    tokio::spawn(turn_away(socket, peer, why, shared));
                    continue;
                }
            };
            let tls = self.tls.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let conn = Arc::new(Conn::new(peer, &shared.limits));
                wire::serve(socket, tls, shared.clone(), conn.clone(), cancel).await;
                conn.closed(&shared);
                drop(ticket);
            });
        }
        refresher.abort();
        warmer.abort();
        watcher.abort();
        Ok(())
    }
}

/// Tells a client it got no slot (an ErrorResponse, which libpq shows),
/// audits it (a flood as one record a second), and closes.
async fn turn_away(mut socket: tokio::net::TcpStream, peer: SocketAddr, why: admission::Refusal, shared: Arc<Shared>) {
    let message = why.message(&shared.admission.limits, None);
    tracing::warn!(client = %peer, "connection refused: {message}");
    if let Some(repeated) = shared.admission.audit_now(peer.ip(), why) {
        let conn = Conn::new(peer, &shared.limits);
        wire::audit_connection(&shared, &conn, Status::Refused, format!("connection refused: {message}"), Some(repeated));
    }
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', "53300"), (b'M', message.as_str())] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(&body);
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(&msg)).await;
}
