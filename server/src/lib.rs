//! The SQL service: the lake over the PostgreSQL wire protocol, for
//! analysts' own tools (psql, DBeaver, pandas, R), on the same DataFusion
//! session the reports use.
//!
//! | module | job |
//! |---|---|
//! | [`users`] | the users file: roles and SCRAM verifiers, never passwords |
//! | [`scram`] | SCRAM-SHA-256 against stored verifiers |
//! | [`auth`] | the login handshake; refusals audited |
//! | [`policy`] | roles, and the statement check before planning |
//! | [`catalog`] | one session per role, rebuilt when the lake moves on |
//! | [`cached`] | measure views computed once per lake snapshot |
//! | [`limits`] | per-query memory pool and time limit |
//! | [`audit`] | the JSON-lines audit log |
//! | [`handler`] | the wire handlers of a connection |

pub mod audit;
pub mod auth;
pub mod cached;
pub mod catalog;
pub mod handler;
pub mod limits;
pub mod policy;
pub mod scram;
pub mod users;

pub use limits::Limits;
pub use policy::Role;

use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ConnectionManager, PgWireServerHandlers, RandomPidSecretKeyGenerator};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::{self, ServerConfig};
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use handler::{Conn, Link, Shared};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use vru_queries::SessionOptions;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("users file {path}: {message}")]
    Users { path: PathBuf, message: String },
    #[error("audit log {path}: {source}")]
    Audit { path: PathBuf, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "refusing to listen on {0} without TLS: passwords and results would cross the network in clear. Configure --tls-cert and --tls-key, listen on 127.0.0.1, or pass --allow-insecure-remote"
    )]
    InsecureRemote(SocketAddr),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Query(Box<vru_queries::QueryError>),
    #[error("SQL: {0}")]
    DataFusion(Box<vru_queries::datafusion::error::DataFusionError>),
    #[error("formatting a result: {0}")]
    Arrow(#[from] vru_queries::datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Invalid(String),
}

impl From<vru_queries::QueryError> for ServerError {
    fn from(e: vru_queries::QueryError) -> Self {
        ServerError::Query(Box::new(e))
    }
}

impl From<vru_queries::datafusion::error::DataFusionError> for ServerError {
    fn from(e: vru_queries::datafusion::error::DataFusionError) -> Self {
        ServerError::DataFusion(Box::new(e))
    }
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub users: PathBuf,
    /// Certificate chain and private key, PEM.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub allow_insecure_remote: bool,
    pub limits: Limits,
    pub audit: PathBuf,
    /// How often, at most, the lake is checked for new commits.
    pub refresh: Duration,
    pub max_connections: usize,
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!("no certificate in {}", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ServerError::Tls(format!("private key {}: {e}", key.display())))?;
    let config = ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).map_err(|e| ServerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The handlers of one connection: each connection has its own login state
/// and session, so `process_socket` gets a fresh set.
struct ConnHandlers {
    startup: Arc<auth::ScramStartup>,
    link: Arc<Link>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for ConnHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.link.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.link.clone()
    }

    fn startup_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    max_connections: usize,
}

impl Server {
    /// Checks the settings, opens the users file and the audit log, builds
    /// the first session over the lake and binds the port.
    pub async fn bind(opts: &ServeOptions, session: SessionOptions) -> Result<Server, ServerError> {
        if opts.tls.is_none() && !opts.listen.ip().is_loopback() && !opts.allow_insecure_remote {
            return Err(ServerError::InsecureRemote(opts.listen));
        }
        let tls = opts.tls.as_ref().map(|(c, k)| tls_acceptor(c, k)).transpose()?;
        let users = auth::Users::open(opts.users.clone())?;
        if users.count() == 0 {
            tracing::warn!(
                "no users in {}: every login will be refused. Add one with `vru user add NAME --role analyst`",
                opts.users.display()
            );
        }
        let audit = audit::AuditLog::open(&opts.audit)?;
        let catalogs = catalog::Catalogs::new(session, opts.refresh).await?;
        let listener = TcpListener::bind(opts.listen).await.map_err(|source| ServerError::Listen { addr: opts.listen, source })?;
        let shared = Arc::new(Shared {
            catalogs,
            users,
            audit,
            limits: opts.limits,
            connections: Arc::new(ConnectionManager::new()),
            pids: RandomPidSecretKeyGenerator::default(),
            secret: rand::random(),
            tls_required: tls.is_some(),
            pg_parser: PostgresCompatibilityParser::new(),
            plan_reader: Shared::plan_reader(),
        });
        Ok(Server { listener, tls, shared, max_connections: opts.max_connections.max(1) })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(|e| ServerError::Invalid(e.to_string()))
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes. A connection's failure ends that
    /// connection only.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), ServerError> {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let cancel = Arc::new(DefaultCancelHandler::new(self.shared.connections.clone()));
        tokio::pin!(shutdown);
        loop {
            let (socket, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                },
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(client = %peer, "connection refused: {} connections open (max_connections)", self.max_connections);
                continue;
            };
            let _ = socket.set_nodelay(true);
            let shared = self.shared.clone();
            let tls = self.tls.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let conn = Arc::new(Conn::new(peer));
                let handlers = ConnHandlers {
                    startup: Arc::new(auth::ScramStartup { shared: shared.clone(), conn: conn.clone() }),
                    link: Arc::new(Link { shared: shared.clone(), conn: conn.clone() }),
                    cancel,
                };
                if let Err(e) = process_socket(socket, tls, handlers).await {
                    tracing::debug!(client = %peer, "connection ended: {e}");
                }
                conn.closed(&shared);
                drop(permit);
            });
        }
    }
}
