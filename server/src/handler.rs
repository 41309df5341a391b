//! The wire handlers of one connection. Planning and execution are
//! datafusion-postgres's (`DfSessionService`: its catalog emulation, SET,
//! transactions, cursors, Arrow-to-wire encoding); around them, per query:
//! the role's session (rebuilt when the lake moved on), the statement check
//! of `policy`, the memory pool and time limit of `limits`, and the audit
//! record with the rows actually sent.

use crate::audit::{Kind, Record, Status};
use crate::auth::Users;
use crate::catalog::Catalogs;
use crate::limits::{self, Limits};
use crate::policy::{self, Allowed, Principal};
use crate::scram::{Exchange, Verifier};
use crate::users::User;
use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::{Entry, PortalStore};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionGuard, ConnectionHandle, ConnectionManager, RandomPidSecretKeyGenerator, Type,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::extendedquery::Execute;
use datafusion_postgres::pgwire::messages::simplequery::Query;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, StreamExt};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use vru_queries::datafusion::execution::runtime_env::RuntimeEnv;
use vru_queries::datafusion::logical_expr::LogicalPlan;
use vru_queries::datafusion::prelude::SessionContext;
use vru_queries::datafusion::sql::sqlparser::ast::Statement;

/// What every connection shares.
pub struct Shared {
    pub catalogs: Catalogs,
    pub users: Users,
    pub audit: crate::audit::AuditLog,
    pub limits: Limits,
    pub connections: Arc<ConnectionManager>,
    pub pids: RandomPidSecretKeyGenerator,
    /// Keys the decoy salts of unknown users; new at each start.
    pub secret: [u8; 32],
    /// TLS is configured: remote clients must use it.
    pub tls_required: bool,
    pub pg_parser: PostgresCompatibilityParser,
    /// For the parser methods that read only a planned statement.
    pub plan_reader: Arc<Parser>,
}

impl Shared {
    pub fn plan_reader() -> Arc<Parser> {
        DfSessionService::new(Arc::new(SessionContext::new())).query_parser()
    }
}

/// Where a connection is in its login.
pub enum Phase {
    Connected,
    Asked { user: String },
    Exchanging { user: String, account: Option<User>, verifier: Verifier, exchange: Box<Exchange> },
    Refused,
    Authenticated(Principal),
}

/// A connection's session over its role's catalog, with its own memory pool.
struct Bound {
    generation: u64,
    service: Arc<DfSessionService>,
    allowed: Arc<Allowed>,
}

pub struct Conn {
    pub peer: SocketAddr,
    pub started: Instant,
    phase: Mutex<Phase>,
    rows: Arc<AtomicU64>,
    tables: Mutex<Vec<String>>,
    bound: tokio::sync::Mutex<Option<Bound>>,
    runtime: OnceLock<Arc<RuntimeEnv>>,
    /// Where a client's cancel request (psql's Ctrl-C) arrives.
    pub cancel: OnceLock<(Arc<ConnectionHandle>, ConnectionGuard)>,
}

impl Conn {
    pub fn new(peer: SocketAddr) -> Conn {
        Conn {
            peer,
            started: Instant::now(),
            phase: Mutex::new(Phase::Connected),
            rows: Arc::new(AtomicU64::new(0)),
            tables: Mutex::new(Vec::new()),
            bound: tokio::sync::Mutex::new(None),
            runtime: OnceLock::new(),
            cancel: OnceLock::new(),
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

    /// Called when the socket closes: a client that was asked for a
    /// password and left (psql without one) is a refused login too.
    pub fn closed(&self, shared: &Shared) {
        let user = match &*self.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Asked { user } | Phase::Exchanging { user, .. } => user.clone(),
            _ => return,
        };
        let mut r = Record::new(Kind::Login, self.peer.to_string());
        r.user = Some(user);
        r.status = Status::Refused;
        r.error = Some("the client closed the connection when asked for a password: no password supplied".into());
        r.duration_ms = self.started.elapsed().as_millis() as u64;
        shared.audit.write(&r);
    }

    fn begin_query(&self) {
        self.rows.store(0, Ordering::Relaxed);
        self.tables.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn set_tables(&self, t: Vec<String>) {
        *self.tables.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

/// One connection's query side: simple and extended protocol, and the
/// parser of the extended protocol.
pub struct Link {
    pub shared: Arc<Shared>,
    pub conn: Arc<Conn>,
}

fn internal(e: impl std::fmt::Display) -> PgWireError {
    limits::user_error("XX000", e.to_string())
}

impl Link {
    fn principal(&self) -> PgWireResult<Principal> {
        self.conn.principal().ok_or_else(|| limits::user_error("28000", "not authenticated".into()))
    }

    /// The connection's session on the newest generation of the lake.
    async fn bound(&self) -> PgWireResult<(Principal, Arc<DfSessionService>, Arc<Allowed>)> {
        let principal = self.principal()?;
        let generation = self.shared.catalogs.current().await;
        let mut b = self.conn.bound.lock().await;
        if let Some(cur) = b.as_ref().filter(|cur| cur.generation == generation.id) {
            return Ok((principal, cur.service.clone(), cur.allowed.clone()));
        }
        let role = generation.for_principal(&principal).await.map_err(internal)?;
        let runtime = match self.conn.runtime.get() {
            Some(r) => r.clone(),
            None => {
                let r = self.shared.limits.runtime(&role.ctx.runtime_env()).map_err(internal)?;
                self.conn.runtime.get_or_init(|| r).clone()
            }
        };
        let ctx = self.shared.limits.bind(&role.ctx, runtime);
        let service = Arc::new(DfSessionService::new(Arc::new(ctx)));
        *b = Some(Bound { generation: generation.id, service: service.clone(), allowed: role.allowed.clone() });
        Ok((principal, service, role.allowed))
    }

    /// Checks every statement of `sql` for the user's role; returns the
    /// tables touched.
    fn check(&self, principal: &Principal, allowed: &Allowed, sql: &str) -> PgWireResult<Vec<String>> {
        let statements = policy::parse(&self.shared.pg_parser, sql).map_err(|e| limits::user_error("42601", e))?;
        let mut tables = Vec::new();
        for s in &statements {
            tables.extend(policy::check(s, principal.role, allowed).map_err(|r| limits::user_error(r.sqlstate(), r.message()))?);
        }
        tables.sort();
        tables.dedup();
        Ok(tables)
    }

    /// Counts rows as they are sent and explains a memory error met midway.
    fn wrap(&self, r: Response) -> Response {
        match r {
            Response::Query(mut q) => {
                let rows = self.conn.rows.clone();
                let limits = self.shared.limits;
                let inner = std::mem::replace(&mut q.data_rows, Box::pin(futures::stream::empty()));
                q.data_rows = Box::pin(inner.map(move |row| match row {
                    Ok(row) => {
                        rows.fetch_add(1, Ordering::Relaxed);
                        Ok(row)
                    }
                    Err(e) => Err(limits.explain(e)),
                }));
                Response::Query(q)
            }
            other => other,
        }
    }

    fn audit(&self, sql: &str, started: Instant, result: &PgWireResult<()>) {
        let mut r = Record::new(Kind::Query, self.conn.peer.to_string()).with_query(sql);
        if let Some(p) = self.conn.principal() {
            r.user = Some(p.user);
            r.role = Some(p.role);
        }
        r.duration_ms = started.elapsed().as_millis() as u64;
        r.rows = self.conn.rows.load(Ordering::Relaxed);
        r.tables = self.conn.tables.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Err(e) = result {
            let (code, message) = limits::describe(e);
            r.status = if code == "42501" || code == "25006" { Status::Refused } else { Status::Error };
            r.error = Some(format!("{code}: {message}"));
        }
        self.shared.audit.write(&r);
    }

    /// Runs a whole query (planning, execution and sending the rows) under
    /// the time limit, ended early by the client's cancel request.
    async fn limited<F: std::future::Future<Output = PgWireResult<()>>>(&self, f: F) -> PgWireResult<()> {
        let timed = async {
            match tokio::time::timeout(self.shared.limits.query_timeout, f).await {
                Ok(r) => r,
                Err(_) => Err(self.shared.limits.timeout_error()),
            }
        };
        let Some((handle, _)) = self.conn.cancel.get() else { return timed.await };
        let cancelled = handle.start_query().await;
        tokio::select! {
            r = timed => r,
            Ok(()) = cancelled => Err(limits::user_error("57014", "canceling statement due to user request".into())),
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Link {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let started = Instant::now();
        self.conn.begin_query();
        let sql = query.query.clone();
        let result = self.limited(self._on_query(client, query)).await;
        self.audit(&sql, started, &result);
        result
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // psycopg sends this on rollback once it has prepared statements;
        // DataFusion knows only named ones. Nothing is kept to free.
        if query.trim().trim_end_matches(';').eq_ignore_ascii_case("DEALLOCATE ALL") {
            return Ok(vec![Response::Execution(Tag::new("DEALLOCATE ALL"))]);
        }
        let (principal, service, allowed) = self.bound().await?;
        self.conn.set_tables(self.check(&principal, &allowed, query)?);
        let responses = SimpleQueryHandler::do_query(service.as_ref(), client, query).await.map_err(|e| self.shared.limits.explain(e))?;
        Ok(responses.into_iter().map(|r| self.wrap(r)).collect())
    }
}

type DfStatement = (String, Option<(Statement, LogicalPlan)>);

#[async_trait]
impl ExtendedQueryHandler for Link {
    type Statement = DfStatement;
    type QueryParser = RoleParser;

    fn query_parser(&self) -> Arc<RoleParser> {
        Arc::new(RoleParser { link: Link { shared: self.shared.clone(), conn: self.conn.clone() } })
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let started = Instant::now();
        self.conn.begin_query();
        let name = message.name.clone().unwrap_or_default();
        let sql = match client.portal_store().get_portal(&name) {
            Some(Entry::Value(p)) => {
                let (sql, parsed) = &p.statement.statement;
                if let Some((stmt, _)) = parsed {
                    self.conn.set_tables(policy::relations(stmt));
                }
                sql.clone()
            }
            _ => String::new(),
        };
        let result = self.limited(self._on_execute(client, message)).await;
        self.audit(&sql, started, &result);
        result
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (_, service, _) = self.bound().await?;
        let r =
            ExtendedQueryHandler::do_query(service.as_ref(), client, portal, max_rows).await.map_err(|e| self.shared.limits.explain(e))?;
        Ok(self.wrap(r))
    }
}

/// The extended protocol's parser: checks the statement for the role, then
/// plans it in the connection's session. A refused or failing Parse never
/// reaches Execute, so it is audited here.
pub struct RoleParser {
    link: Link,
}

#[async_trait]
impl QueryParser for RoleParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let started = Instant::now();
        let result = async {
            let (principal, service, allowed) = self.link.bound().await?;
            self.link.conn.set_tables(self.link.check(&principal, &allowed, sql)?);
            service.query_parser().parse_sql(client, sql, types).await
        }
        .await;
        if let Err(e) = &result {
            self.link.conn.rows.store(0, Ordering::Relaxed);
            self.link.audit(sql, started, &Err(limits::user_error(&limits::describe(e).0, limits::describe(e).1)));
        }
        result
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.link.shared.plan_reader.get_parameter_types(stmt)
    }

    fn get_result_schema(&self, stmt: &Self::Statement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.link.shared.plan_reader.get_result_schema(stmt, column_format)
    }
}
