//! One connection's state, and what every connection shares. The wire
//! handlers themselves are in [`crate::query`].

use crate::admission::Admission;
use crate::audit::{Kind, Record, Status};
use crate::catalog::Catalogs;
use crate::exec::Engine;
use crate::frame::WireLimits;
use crate::limits::{self, Limits};
use crate::policy::{Allowed, Principal, Role};
use crate::scram::{Exchange, Verifier};
use crate::users::User;
use crate::users::Users;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::Parser;
use datafusion_postgres::pgwire::api::query::ExtendedQueryHandler;
use datafusion_postgres::pgwire::api::{ConnectionGuard, ConnectionHandle, ConnectionManager, RandomPidSecretKeyGenerator};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use vru_queries::datafusion::execution::session_state::SessionStateBuilder;
use vru_queries::datafusion::prelude::SessionContext;

/// What every connection shares.
pub struct Shared {
    pub catalogs: Catalogs,
    pub users: Users,
    pub audit: crate::audit::AuditLog,
    pub limits: Limits,
    pub engine: Engine,
    pub admission: Arc<Admission>,
    pub sessions: Sessions,
    pub connections: Arc<ConnectionManager>,
    pub pids: RandomPidSecretKeyGenerator,
    /// Keys the decoy salts of unknown users; kept in the data directory so
    /// they do not change across restarts (real users' salts do not).
    pub secret: [u8; 32],
    /// TLS is configured: remote clients must use it.
    pub tls_required: bool,
    /// `tls-server-end-point` channel-binding data of the server's
    /// certificate, when TLS is on and the certificate's hash is known.
    pub channel_binding: Option<Vec<u8>>,
    /// For the parser methods that read only a planned statement.
    pub plan_reader: Arc<Parser>,
    next_query: AtomicU64,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalogs: Catalogs,
        users: Users,
        audit: crate::audit::AuditLog,
        limits: Limits,
        engine: Engine,
        admission: Arc<Admission>,
        secret: [u8; 32],
        tls_required: bool,
        channel_binding: Option<Vec<u8>>,
    ) -> Shared {
        Shared {
            catalogs,
            users,
            audit,
            limits,
            engine,
            admission,
            sessions: Sessions::default(),
            connections: Arc::new(ConnectionManager::new()),
            pids: RandomPidSecretKeyGenerator::default(),
            secret,
            tls_required,
            channel_binding,
            plan_reader: DfSessionService::new(Arc::new(SessionContext::new())).query_parser(),
            next_query: AtomicU64::new(1),
        }
    }

    pub fn query_id(&self) -> u64 {
        self.next_query.fetch_add(1, Ordering::Relaxed)
    }
}

/// The open, logged-in sessions, so a change to the users file can end
/// those it no longer allows.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<u64, (Principal, Arc<Conn>)>>,
    next: AtomicU64,
}

impl Sessions {
    pub fn add(&self, principal: Principal, conn: Arc<Conn>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (principal, conn));
        id
    }

    pub fn remove(&self, id: u64) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// Ends every session whose user `still_allowed` rejects; returns how
    /// many.
    pub fn end_unless(&self, still_allowed: impl Fn(&Principal) -> Result<(), String>) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = 0;
        for (principal, conn) in open.values() {
            if let Err(why) = still_allowed(principal) {
                conn.end(why);
                ended += 1;
            }
        }
        ended
    }

    pub fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Where a connection is in its login.
pub enum Phase {
    Connected,
    Asked { user: String, plus: bool },
    Exchanging { user: String, account: Option<User>, verifier: Verifier, exchange: Box<Exchange> },
    Refused,
    Authenticated(Principal),
}

/// A connection's session over its role's catalog.
pub struct Bound {
    pub generation: u64,
    pub ctx: Arc<SessionContext>,
    pub allowed: Arc<Allowed>,
}

/// What the audit log records of the query in progress.
#[derive(Debug, Default, Clone)]
pub struct Current {
    pub id: u64,
    pub statements: Vec<String>,
    pub tables: Vec<String>,
    /// The `query_start` record is written.
    pub started: bool,
}

pub struct Conn {
    pub peer: SocketAddr,
    pub started: Instant,
    phase: Mutex<Phase>,
    pub rows: Arc<AtomicU64>,
    pub current: Mutex<Current>,
    pub bound: tokio::sync::Mutex<Option<Bound>>,
    /// Where a client's cancel request (psql's Ctrl-C) arrives.
    pub cancel: OnceLock<(Arc<ConnectionHandle>, ConnectionGuard)>,
    pub wire: Arc<WireLimits>,
    /// Cancelled when the server ends the session (user removed).
    pub kill: CancellationToken,
    kill_reason: Mutex<Option<String>>,
    /// Names of the prepared statements the client holds.
    pub prepared: Mutex<HashSet<String>>,
    pub session: OnceLock<u64>,
    /// See [`crate::exec::Job::slots`].
    pub jobs: Arc<tokio::sync::Semaphore>,
    /// The SQL cursors the client has declared and not closed.
    pub cursors: crate::cursor::Cursors,
}

impl Conn {
    pub fn new(peer: SocketAddr, limits: &Limits) -> Conn {
        Conn {
            peer,
            started: Instant::now(),
            phase: Mutex::new(Phase::Connected),
            rows: Arc::new(AtomicU64::new(0)),
            current: Mutex::new(Current::default()),
            bound: tokio::sync::Mutex::new(None),
            cancel: OnceLock::new(),
            wire: Arc::new(WireLimits::new(limits.max_message_bytes())),
            kill: CancellationToken::new(),
            kill_reason: Mutex::new(None),
            prepared: Mutex::new(HashSet::new()),
            session: OnceLock::new(),
            jobs: Arc::new(tokio::sync::Semaphore::new(crate::exec::JOBS_PER_CONNECTION)),
            cursors: crate::cursor::Cursors::default(),
        }
    }

    pub fn set_phase(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn take_phase(&self) -> Phase {
        std::mem::replace(&mut *self.phase.lock().unwrap_or_else(|e| e.into_inner()), Phase::Connected)
    }

    pub fn principal(&self) -> Option<Principal> {
        match &*self.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Authenticated(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Ends the session: the connection's loop closes it with `why`.
    pub fn end(&self, why: String) {
        *self.kill_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        self.kill.cancel();
    }

    pub fn end_reason(&self) -> String {
        self.kill_reason.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| "ended by the server".into())
    }

    /// Called when the socket closes: a client that was asked for a
    /// password and left (psql without one) is a refused login too.
    pub fn closed(&self, shared: &Shared) {
        if let Some(id) = self.session.get() {
            shared.sessions.remove(*id);
        }
        let user = match &*self.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Asked { user, .. } | Phase::Exchanging { user, .. } => user.clone(),
            _ => return,
        };
        let mut r = Record::new(Kind::Login, self.peer.to_string());
        r.user = Some(user);
        r.status = Status::Refused;
        r.error = Some("the client closed the connection when asked for a password: no password supplied".into());
        r.duration_ms = self.started.elapsed().as_millis() as u64;
        let _ = shared.audit.write(&r);
    }

    pub fn begin_query(&self, id: u64) {
        self.rows.store(0, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Current { id, ..Current::default() };
    }

    pub fn current(&self) -> Current {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn describe(&self, statements: Vec<String>, tables: Vec<String>) {
        let mut c = self.current.lock().unwrap_or_else(|e| e.into_inner());
        c.statements = statements;
        c.tables = tables;
    }
}

/// SQLSTATEs that mean "refused" rather than "failed" in the audit log.
pub fn is_refusal(code: &str) -> bool {
    matches!(code, "42501" | "25006" | "0A000" | "54001" | "54000" | "53400" | "28000" | "58030")
}

/// One connection's query side: simple and extended protocol.
pub struct Link {
    pub shared: Arc<Shared>,
    pub conn: Arc<Conn>,
}

pub fn internal(e: impl std::fmt::Display) -> PgWireError {
    limits::user_error("XX000", e.to_string())
}

impl Link {
    pub fn principal(&self) -> PgWireResult<Principal> {
        self.conn.principal().ok_or_else(|| limits::user_error("28000", "not authenticated".into()))
    }

    /// The connection's session on the newest generation of the lake.
    pub async fn bound(&self) -> PgWireResult<(Principal, Arc<SessionContext>, Arc<Allowed>)> {
        let principal = self.principal()?;
        let generation = self.shared.catalogs.current().await;
        let mut b = self.conn.bound.lock().await;
        if let Some(cur) = b.as_ref().filter(|cur| cur.generation == generation.id) {
            return Ok((principal, cur.ctx.clone(), cur.allowed.clone()));
        }
        let role = generation.for_principal(&principal).await.map_err(internal)?;
        let mut config = role.ctx.state().config().clone();
        if principal.role != Role::Analyst {
            // Physical plans name the lake's files.
            config.options_mut().explain.logical_plan_only = true;
        }
        let state = SessionStateBuilder::new_from_existing(role.ctx.state()).with_config(config).build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        *b = Some(Bound { generation: generation.id, ctx: ctx.clone(), allowed: role.allowed.clone() });
        Ok((principal, ctx, role.allowed))
    }

    /// Writes the `query_start` record; an error refuses the query.
    pub fn audit_start(&self, sql: &str) -> PgWireResult<()> {
        let cur = self.conn.current();
        let mut r = Record::new(Kind::QueryStart, self.conn.peer.to_string()).with_query(sql);
        if let Some(p) = self.conn.principal() {
            r.user = Some(p.user);
            r.role = Some(p.role);
        }
        r.query_id = Some(cur.id);
        r.statements = cur.statements;
        r.tables = cur.tables;
        self.shared.audit.write(&r).map_err(|e| {
            limits::user_error(
                "58030",
                format!("the server cannot write its audit log, so it runs no queries ({e}); tell the administrator"),
            )
        })?;
        self.conn.current.lock().unwrap_or_else(|e| e.into_inner()).started = true;
        Ok(())
    }

    /// Writes the record of how a query ended.
    pub fn audit_end(&self, sql: &str, started: Instant, result: &PgWireResult<()>) {
        let cur = self.conn.current();
        let mut r = Record::new(Kind::Query, self.conn.peer.to_string()).with_query(sql);
        if let Some(p) = self.conn.principal() {
            r.user = Some(p.user);
            r.role = Some(p.role);
        }
        r.query_id = Some(cur.id);
        r.statements = cur.statements;
        r.duration_ms = started.elapsed().as_millis() as u64;
        r.rows = self.conn.rows.load(Ordering::Relaxed);
        r.tables = cur.tables;
        if let Err(e) = result {
            let (code, message) = limits::describe(e);
            r.status = if is_refusal(&code) { Status::Refused } else { Status::Error };
            r.error = Some(format!("{code}: {message}"));
        }
        // A failure is logged by the audit log; the next query's start
        // record fails the same way and is refused.
        let _ = self.shared.audit.write(&r);
    }
}
