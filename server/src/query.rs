//! The wire handlers of a connection's queries, simple and extended
//! protocol alike:
//!
//! 1. the text's size against `max_statement_bytes`;
//! 2. parsed and checked on the query runtime ([`crate::exec::Engine::check`]):
//!    the allow-list, the statement's shape, its tables; a refusal is
//!    audited with the tables it named;
//! 3. the `query_start` audit record (if it cannot be written, nothing runs);
//! 4. the checked statement planned and run on the query runtime, under the
//!    time limit (the server's, or the client's `statement_timeout` when
//!    shorter) and the query's memory share;
//! 5. the `query` record with the rows actually sent, however it ended.
//!
//! `SET`, `SHOW` and transaction statements that pass the allow-list are
//! answered by datafusion-postgres's hooks, on the parsed statement.

mod cursors;

use crate::exec::{self, Job, ParseFailure};
use crate::handler::{Link, internal};
use crate::limits::{self, user_error};
use crate::policy::{Action, Refusal, Verdict};
use async_trait::async_trait;
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response};
use datafusion_postgres::pgwire::api::results::{DescribePortalResponse, FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::{Entry, PortalStore};
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::extendedquery::{
    Close, CloseComplete, Describe, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use datafusion_postgres::pgwire::messages::simplequery::Query;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::{Sink, SinkExt, StreamExt};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use vru_queries::datafusion::common::ParamValues;
use vru_queries::datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use vru_queries::datafusion::prelude::SessionContext;
use vru_queries::datafusion::sql::sqlparser::ast::Statement;

/// A statement the extended protocol keeps between Parse and Execute: the
/// checked tree and its plan, never text to parse again.
#[derive(Debug)]
pub struct Prepared {
    /// In the shape datafusion-postgres's describe methods read.
    pub df: (String, Option<(Statement, LogicalPlan)>),
    pub action: Action,
    pub name: &'static str,
    pub tables: Vec<String>,
}

pub type Stmt = Arc<Prepared>;

/// The client's `SET statement_timeout`, as datafusion-postgres's hook
/// keeps it.
fn client_timeout<C: ClientInfo>(client: &C) -> Option<Duration> {
    client.metadata().get("statement_timeout_ms").and_then(|s| s.parse().ok()).map(Duration::from_millis)
}

fn refusal_error(r: &Refusal) -> PgWireError {
    user_error(r.sqlstate(), r.message())
}

fn parse_error(f: ParseFailure) -> PgWireError {
    match f {
        ParseFailure::Syntax(m) => user_error("42601", m),
        ParseFailure::TooDeep => refusal_error(&Refusal::TooComplex {
            what: "parentheses or subqueries nested too deep for the parser (its limit is 50 levels)".into(),
        }),
        ParseFailure::Busy => user_error(
            "53200",
            "the service's memory (server.total_memory_limit) cannot hold this statement while other queries run: try again shortly, or send a shorter one".into(),
        ),
    }
}

fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(vru_queries::datafusion::common::DFSchema::empty()),
    })
}

fn housekeeping(stmt: &Statement) -> Response {
    Response::Execution(Tag::new(match stmt {
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Discard { .. } => "DISCARD ALL",
        _ => "RESET",
    }))
}

impl Link {
    fn size_check(&self, sql: &str) -> PgWireResult<()> {
        let max = self.shared.limits.max_statement_bytes;
        if sql.len() > max {
            return Err(user_error(
                "54000",
                format!(
                    "statement of {} bytes is over the server's limit of {max} bytes (server.max_statement_bytes): send a shorter one",
                    sql.len()
                ),
            ));
        }
        Ok(())
    }

    /// Parses and checks `sql`; records what it is for the audit log; the
    /// first refusal is the error.
    async fn checked(&self, sql: &str) -> PgWireResult<(Arc<SessionContext>, Vec<(Statement, Verdict)>)> {
        self.size_check(sql)?;
        let (principal, ctx, allowed) = self.bound().await?;
        let checked = self
            .shared
            .engine
            .check(Arc::from(sql), principal.role, allowed, self.shared.limits.complexity())
            .await
            .map_err(parse_error)?;
        let names = checked.iter().map(|(_, v)| v.name.to_string()).collect();
        let mut tables: Vec<String> = checked.iter().flat_map(|(_, v)| v.tables.clone()).collect();
        tables.sort();
        tables.dedup();
        self.conn.describe(names, tables);
        let mut out = Vec::with_capacity(checked.len());
        for (stmt, verdict) in checked {
            if let Err(r) = &verdict.result {
                return Err(refusal_error(r));
            }
            out.push((stmt.expect("kept when allowed"), verdict));
        }
        Ok((ctx, out))
    }

    fn fields<C: ClientInfo>(&self, client: &C, plan: &LogicalPlan, format: &Format) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        Ok(Arc::new(arrow_schema_to_pg_fields(plan.schema().as_arrow(), format, Some(options))?))
    }

    fn job(&self, ctx: &SessionContext, plan: LogicalPlan, fields: Arc<Vec<FieldInfo>>, deadline: tokio::time::Instant) -> Job {
        Job {
            state: ctx.state(),
            plan,
            fields,
            query_memory: self.shared.limits.memory_bytes,
            deadline,
            timeout: self.shared.limits.timeout_error(),
            slots: self.conn.jobs.clone(),
        }
    }

    /// Counts rows as they are sent and explains an error met midway.
    fn counted(&self, mut q: QueryResponse) -> Response {
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

    /// Runs `f` (planning, execution and sending the rows) until `deadline`,
    /// ended early by the client's cancel request.
    async fn limited<F: std::future::Future<Output = PgWireResult<()>>>(&self, deadline: tokio::time::Instant, f: F) -> PgWireResult<()> {
        let timed = async {
            match tokio::time::timeout_at(deadline, f).await {
                Ok(r) => r.map_err(|e| self.shared.limits.explain(e)),
                Err(_) => Err(self.shared.limits.timeout_error()),
            }
        };
        let Some((handle, _)) = self.conn.cancel.get() else { return timed.await };
        let cancelled = handle.start_query().await;
        tokio::select! {
            r = timed => r,
            Ok(()) = cancelled => Err(user_error("57014", "canceling statement due to user request".into())),
        }
    }
}

/// Writes the completion record if the query's future is dropped midway
/// (the session ended under it).
struct Unfinished<'a> {
    link: &'a Link,
    sql: &'a str,
    started: Instant,
    done: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.done && self.link.conn.current().started {
            self.link.audit_end(self.sql, self.started, &Err(internal("interrupted: the session was ended by the server")));
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
        self.conn.begin_query(self.shared.query_id());
        let (deadline, _) = exec::deadline(self.shared.limits.query_timeout, client_timeout(client));
        let sql = query.query.clone();
        let mut guard = Unfinished { link: self, sql: &sql, started, done: false };
        let result = self.limited(deadline, self._on_query(client, query)).await;
        guard.done = true;
        self.audit_end(&sql, started, &result);
        result
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (deadline, _) = exec::deadline(self.shared.limits.query_timeout, client_timeout(client));
        let (ctx, statements) = self.checked(query).await?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        self.audit_start(query)?;
        let mut responses = Vec::with_capacity(statements.len());
        for (stmt, verdict) in statements {
            let action = verdict.result.expect("allowed");
            if action != Action::Transaction
                && let Some(r) = TransactionStatementHook.handle_simple_query(&stmt, &ctx, client).await
            {
                responses.push(r?);
                continue;
            }
            let response = match action {
                Action::Query => {
                    let plan = self.shared.engine.plan(ctx.state(), stmt).await?;
                    let fields = self.fields(client, &plan, &Format::UnifiedText)?;
                    let rows = self.shared.engine.execute(self.job(&ctx, plan, fields.clone(), deadline));
                    self.counted(QueryResponse::new(fields, rows))
                }
                Action::Setting => match SetShowHook.handle_simple_query(&stmt, &ctx, client).await {
                    Some(r) => r?,
                    None => Response::Execution(Tag::new("SET")),
                },
                Action::Transaction => {
                    self.transaction_ends(&stmt);
                    match TransactionStatementHook.handle_simple_query(&stmt, &ctx, client).await {
                        Some(r) => r?,
                        None => Response::Execution(Tag::new("COMMIT")),
                    }
                }
                Action::Housekeeping => self.housekeep(client, &stmt),
                Action::Cursor => self.cursor(client, &ctx, &stmt, None, deadline).await?,
            };
            responses.push(response);
        }
        Ok(responses)
    }
}

impl Link {
    /// `DEALLOCATE` forgets prepared statements; `DISCARD ALL` also closes
    /// the cursors.
    fn housekeep<C: ClientPortalStore>(&self, client: &C, stmt: &Statement) -> Response
    where
        C::PortalStore: PortalStore,
    {
        match stmt {
            Statement::Deallocate { name, .. } => self.deallocate(client, &name.value),
            Statement::Discard { .. } => {
                let _ = self.conn.cursors.close(None);
            }
            _ => {}
        }
        housekeeping(stmt)
    }

    /// `COMMIT` and `ROLLBACK` end the cursors not declared `WITH HOLD`.
    fn transaction_ends(&self, stmt: &Statement) {
        if matches!(stmt, Statement::Commit { .. } | Statement::Rollback { .. }) {
            self.conn.cursors.end_transaction();
        }
    }

    /// A prepared statement's plan with the portal's parameter values.
    fn bind(&self, portal: &Portal<Stmt>, prepared: &Prepared, plan: &LogicalPlan) -> PgWireResult<LogicalPlan> {
        let wire_types = self.shared.plan_reader.get_parameter_types(&prepared.df)?;
        let wire_refs: Vec<Option<&Type>> = wire_types.iter().map(Some).collect();
        let inferred = ordered_parameter_types(plan)?;
        let inferred_refs: Vec<_> = inferred.iter().map(|t| t.as_ref()).collect();
        let params = deserialize_parameters_with_server_types(portal, &inferred_refs, &wire_refs)?;
        plan.clone().replace_params_with_values(&params).map_err(|e| PgWireError::ApiError(Box::new(e)))
    }

    fn deallocate<C: ClientPortalStore>(&self, client: &C, name: &str)
    where
        C::PortalStore: PortalStore,
    {
        let mut held = self.conn.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if name.eq_ignore_ascii_case("all") {
            for n in held.drain() {
                client.portal_store().rm_statement(&n);
            }
        } else {
            held.remove(name);
            client.portal_store().rm_statement(name);
        }
    }

    /// Parses, checks and plans one statement for the extended protocol.
    async fn prepare<C: ClientInfo + Unpin + Send + Sync>(&self, client: &C, sql: &str) -> PgWireResult<Option<Stmt>> {
        let (ctx, mut statements) = self.checked(sql).await?;
        if statements.len() > 1 {
            return Err(user_error("42601", "cannot insert multiple commands into a prepared statement".into()));
        }
        let Some((stmt, verdict)) = statements.pop() else { return Ok(None) };
        let action = verdict.result.expect("allowed");
        let plan = match action {
            Action::Query => self.shared.engine.plan(ctx.state(), stmt.clone()).await?,
            Action::Setting | Action::Transaction => {
                let client: &(dyn ClientInfo + Send + Sync) = client;
                let from_hook = match SetShowHook.handle_extended_parse_query(&stmt, &ctx, client).await {
                    Some(p) => Some(p),
                    None => TransactionStatementHook.handle_extended_parse_query(&stmt, &ctx, client).await,
                };
                from_hook.transpose()?.unwrap_or_else(empty_plan)
            }
            Action::Housekeeping => empty_plan(),
            Action::Cursor => self.cursor_plan(&ctx, &stmt).await?,
        };
        Ok(Some(Arc::new(Prepared { df: (sql.to_string(), Some((stmt, plan))), action, name: verdict.name, tables: verdict.tables })))
    }
}

fn ordered_parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<vru_queries::datafusion::arrow::datatypes::DataType>>> {
    let types = plan.get_parameter_types().map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let mut entries: Vec<(usize, Option<vru_queries::datafusion::arrow::datatypes::DataType>)> =
        types.into_iter().filter_map(|(k, v)| k.trim_start_matches('$').parse::<usize>().ok().map(|i| (i, v))).collect();
    entries.sort_by_key(|(i, _)| *i);
    Ok(entries.into_iter().map(|(_, t)| t).collect())
}

#[async_trait]
impl ExtendedQueryHandler for Link {
    type Statement = Stmt;
    type QueryParser = RoleParser;

    fn query_parser(&self) -> Arc<RoleParser> {
        Arc::new(RoleParser { link: Link { shared: self.shared.clone(), conn: self.conn.clone() } })
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.clone().unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let max = self.shared.limits.max_prepared_statements;
        {
            let held = self.conn.prepared.lock().unwrap_or_else(|e| e.into_inner());
            if name != DEFAULT_NAME && !held.contains(&name) && held.len() >= max {
                return Err(user_error(
                    "53400",
                    format!(
                        "too many prepared statements on this connection ({max}, server.max_prepared_statements): close some (DEALLOCATE) first"
                    ),
                ));
            }
        }
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if name != DEFAULT_NAME {
            self.conn.prepared.lock().unwrap_or_else(|e| e.into_inner()).insert(name);
        }
        client.send(PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?;
        Ok(())
    }

    /// A cursor declared in SQL is a portal to PostgreSQL's clients:
    /// psycopg describes it by name before its first FETCH.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && let Some(name) = message.name.as_deref()
            && client.portal_store().get_portal(name).is_none()
            && let Ok(cursor) = self.conn.cursors.get(name)
        {
            return send_describe_response(client, &DescribePortalResponse::new(cursor.fields.to_vec())).await;
        }
        self._on_describe(client, message).await
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            client.portal_store().rm_statement(name);
            self.conn.prepared.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        } else {
            client.portal_store().rm_portal(name);
        }
        client.send(PgWireBackendMessage::CloseComplete(CloseComplete::new())).await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let started = Instant::now();
        self.conn.begin_query(self.shared.query_id());
        // pgwire stores the unnamed portal under DEFAULT_NAME, not "".
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let sql = match client.portal_store().get_portal(name) {
            Some(Entry::Value(p)) => {
                let prepared = &p.statement.statement;
                self.conn.describe(vec![prepared.name.to_string()], prepared.tables.clone());
                prepared.df.0.clone()
            }
            _ => String::new(),
        };
        if let Err(e) = self.audit_start(&sql) {
            self.audit_end(&sql, started, &Err(limits::user_error("58030", limits::describe(&e).1)));
            return Err(e);
        }
        let (deadline, _) = exec::deadline(self.shared.limits.query_timeout, client_timeout(client));
        let mut guard = Unfinished { link: self, sql: &sql, started, done: false };
        let result = self.limited(deadline, self._on_execute(client, message)).await;
        guard.done = true;
        self.audit_end(&sql, started, &result);
        result
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = portal.statement.statement.clone();
        let Some((stmt, plan)) = &prepared.df.1 else { return Ok(Response::EmptyQuery) };
        let (_, ctx, _) = self.bound().await?;
        if prepared.action != Action::Transaction
            && let Some(r) = TransactionStatementHook.handle_simple_query(stmt, &ctx, client).await
        {
            return r;
        }
        let none = ParamValues::List(vec![]);
        match prepared.action {
            Action::Query => {
                // Planned again on the session of now: the plan made at Parse
                // holds the tables of the lake snapshot of then, and a BI
                // tool that prepares once and executes for hours would never
                // see a new commit (psycopg prepares after five runs).
                let fresh = self.shared.engine.plan(ctx.state(), stmt.clone()).await?;
                let plan = self.bind(portal, &prepared, &fresh)?;
                let fields = self.fields(client, &plan, &portal.result_column_format)?;
                let (deadline, _) = exec::deadline(self.shared.limits.query_timeout, client_timeout(client));
                let rows = self.shared.engine.execute(self.job(&ctx, plan, fields.clone(), deadline));
                Ok(self.counted(QueryResponse::new(fields, rows)))
            }
            Action::Setting => match SetShowHook.handle_extended_query(stmt, plan, &none, &ctx, client).await {
                Some(r) => r,
                None => Ok(Response::Execution(Tag::new("SET"))),
            },
            Action::Transaction => {
                self.transaction_ends(stmt);
                match TransactionStatementHook.handle_extended_query(stmt, plan, &none, &ctx, client).await {
                    Some(r) => r,
                    None => Ok(Response::Execution(Tag::new("COMMIT"))),
                }
            }
            Action::Housekeeping => Ok(self.housekeep(client, stmt)),
            Action::Cursor => {
                let (deadline, _) = exec::deadline(self.shared.limits.query_timeout, client_timeout(client));
                let declared = match stmt {
                    Statement::Declare { .. } => Some(self.bind(portal, &prepared, &self.cursor_plan(&ctx, stmt).await?)?),
                    _ => None,
                };
                cursors::text_only(&portal.result_column_format)?;
                self.cursor(client, &ctx, stmt, declared, deadline).await
            }
        }
    }
}

/// The extended protocol's parser: checks and plans the statement for the
/// user's role. A refused or failing Parse never reaches Execute, so it is
/// audited here.
pub struct RoleParser {
    link: Link,
}

#[async_trait]
impl QueryParser for RoleParser {
    type Statement = Stmt;

    async fn parse_sql<C>(&self, client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let started = Instant::now();
        let link = &self.link;
        link.conn.begin_query(link.shared.query_id());
        let (deadline, _) = exec::deadline(link.shared.limits.query_timeout, client_timeout(client));
        let result = match tokio::time::timeout_at(deadline, link.prepare(client, sql)).await {
            Ok(r) => r.map_err(|e| link.shared.limits.explain(e)),
            Err(_) => Err(link.shared.limits.timeout_error()),
        };
        if let Err(e) = &result {
            let (code, message) = limits::describe(e);
            link.audit_end(sql, started, &Err(user_error(&code, message)));
        }
        result
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.link.shared.plan_reader.get_parameter_types(&stmt.df)
    }

    fn get_result_schema(&self, stmt: &Self::Statement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        if cursors::returns_no_rows(stmt) {
            return Ok(vec![]);
        }
        self.link.shared.plan_reader.get_result_schema(&stmt.df, column_format)
    }
}
