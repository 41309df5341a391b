//! Where queries run: off the threads that serve connections, each on an
//! operating-system thread of its own, with a known large stack.
//!
//! - Parsing and the checks of `policy` run on a blocking thread, a few
//!   at a time, with their memory reserved in the service's pool first
//!   (a statement's tree is several hundred times its text and is in no
//!   pool otherwise); a statement refused there is also dropped there,
//!   since dropping a deep tree recurses.
//! - Planning and execution run as a job: a thread of the query runtime's
//!   blocking pool driving a single-threaded tokio runtime of its own, so
//!   DataFusion's tasks for that query stay on that thread. The operating
//!   system time-slices the threads, so a CPU-bound query (a nested-loop
//!   join, a poll that takes seconds) delays another connection's
//!   `SELECT 1` by a time slice, not by its own length, whatever the number
//!   of heavy queries. What runs is the plan of the statement that was
//!   checked; no text is parsed again.
//! - A job has its own deadline and is cancelled when the connection stops
//!   reading (time limit, cancel request, the client gone, the session
//!   ended): every operator stops at its next yield point.

use crate::guard::{guard_physical, guard_plan};
use crate::inspect::Complexity;
use crate::memory::QueryPool;
use crate::policy::{self, Allowed, Role, Verdict};
use datafusion_postgres::arrow_pg::datatypes::encode_recordbatch;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire::api::results::FieldInfo;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use futures::{Stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vru_queries::datafusion::error::DataFusionError;
use vru_queries::datafusion::execution::TaskContext;
use vru_queries::datafusion::execution::disk_manager::DiskManager;
use vru_queries::datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use vru_queries::datafusion::execution::session_state::SessionState;
use vru_queries::datafusion::logical_expr::LogicalPlan;
use vru_queries::datafusion::physical_plan::execute_stream;
use vru_queries::datafusion::sql::parser::Statement as DfStatement;
use vru_queries::datafusion::sql::sqlparser::ast::Statement;
use vru_queries::datafusion::sql::sqlparser::parser::ParserError;

/// Stack of every query thread. DataFusion's planner and optimiser guard
/// their own recursion (`recursive_protection`), but derived `Clone`,
/// `Drop`, `Hash` and physical evaluation of expression trees do not; the
/// statement checks bound the depth ([`Complexity`]), and this leaves a wide
/// margin over what the deepest accepted statement needs (measured in
/// tests/server_adversarial.rs). Only touched pages are ever resident.
pub const QUERY_STACK_BYTES: usize = 64 << 20;

/// Parsed statements with their verdicts; refused ones are already dropped.
pub type Checked = Vec<(Option<Statement>, Verdict)>;

/// Why text could not become statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    Syntax(String),
    /// The parser's nesting limit (parentheses, subqueries).
    TooDeep,
    /// The service's memory cannot hold the statement's tree now.
    Busy,
}

/// Cancels a job when dropped.
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A job's runtime. It checks its timers (the deadline) and wake-ups (a
/// cancellation) after every 2 task polls rather than tokio's default 61:
/// one poll of a CPU-bound operator can take hundreds of milliseconds, and
/// 61 of them would put the deadline off by minutes.
fn job_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().event_interval(2).enable_all().build()
}

/// Nice 10 for the calling thread: on Linux a thread's nice value is its
/// own, so the background runtime's threads give way to the query threads,
/// the normaliser and ingest sharing the machine, and use the cores they
/// leave idle. Elsewhere, or if refused, the thread keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; gettid names this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}

/// Bytes of parser memory reserved per byte of statement text: measured
/// at up to ~630 for the densest text (`1+1+...+1`), 420 for long IN lists.
pub const PARSE_BYTES_PER_BYTE: usize = 640;

pub struct Engine {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// One thread at a low priority for work no one waits on: warming the
    /// next generation's measures ([`crate::catalog::Catalogs::keep_warm`]).
    background: Option<tokio::runtime::Runtime>,
    /// Parses at once, so they cannot take every core.
    parsing: Arc<Semaphore>,
    pub service_pool: Arc<dyn MemoryPool>,
    disk: Arc<DiskManager>,
    parser: Arc<PostgresCompatibilityParser>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        for rt in [self.runtime.take(), self.background.take()].into_iter().flatten() {
            rt.shutdown_background();
        }
    }
}

/// A query's result rows as the connection reads them, a batch at a time.
pub type Rows = std::pin::Pin<Box<dyn Stream<Item = PgWireResult<DataRow>> + Send>>;

/// What [`Engine::execute`] runs.
pub struct Job {
    pub state: SessionState,
    pub plan: LogicalPlan,
    pub fields: Arc<Vec<FieldInfo>>,
    pub query_memory: usize,
    pub deadline: Instant,
    /// The error to report when the deadline passes.
    pub timeout: PgWireError,
    /// The connection's job slots: a job holds one until its thread is
    /// done, so a client cannot pile up jobs still finishing a long poll
    /// after their deadline.
    pub slots: Arc<Semaphore>,
}

/// Jobs one connection may have running at once (portals read in turn
/// each keep one).
pub const JOBS_PER_CONNECTION: usize = 4;

fn df_error(e: DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

impl Engine {
    pub fn new(threads: usize, service_pool: Arc<dyn MemoryPool>, disk: Arc<DiskManager>) -> std::io::Result<Engine> {
        let threads = threads.max(1);
        // The workers only warm the catalogs; queries run on blocking
        // threads, one each, as many as there are queries.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(1024)
            .thread_name("vru-query")
            .thread_stack_size(QUERY_STACK_BYTES)
            .enable_all()
            .build()?;
        let background = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vru-warm")
            .thread_stack_size(QUERY_STACK_BYTES)
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Engine {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            background: Some(background),
            parsing: Arc::new(Semaphore::new(threads)),
            service_pool,
            disk,
            parser: Arc::new(PostgresCompatibilityParser::new()),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The background runtime (see [`Engine`]'s field).
    pub fn background(&self) -> tokio::runtime::Handle {
        self.background.as_ref().expect("dropped only with the engine").handle().clone()
    }

    /// Runs `job` to completion on a thread of its own (see the module
    /// documentation); it is cancelled if the returned future is dropped.
    pub async fn job<F, Fut, T>(&self, job: F) -> Option<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let token = CancellationToken::new();
        let cancelled = token.clone();
        let _cancel = CancelOnDrop(token);
        let handle = self.handle.spawn_blocking(move || {
            let rt = job_runtime().ok()?;
            rt.block_on(async move {
                tokio::select! {
                    biased;
                    _ = cancelled.cancelled() => None,
                    r = job() => Some(r),
                }
            })
        });
        handle.await.ok().flatten()
    }

    /// Parses `sql` and checks each statement for `role`.
    pub async fn check(&self, sql: Arc<str>, role: Role, allowed: Arc<Allowed>, limits: Complexity) -> Result<Checked, ParseFailure> {
        let reservation = MemoryConsumer::new("parser").register(&self.service_pool);
        reservation.try_grow(sql.len().saturating_mul(PARSE_BYTES_PER_BYTE)).map_err(|_| ParseFailure::Busy)?;
        let _permit = self.parsing.acquire().await.expect("never closed");
        let parser = self.parser.clone();
        let job = self.handle.spawn_blocking(move || {
            let statements = parser.parse(&sql).map_err(|e| match e {
                ParserError::RecursionLimitExceeded => ParseFailure::TooDeep,
                other => ParseFailure::Syntax(other.to_string()),
            })?;
            Ok(statements
                .into_iter()
                .map(|mut s| {
                    crate::pg_rewrite::rewrite(&mut s);
                    crate::inspect::rebalance(&mut s);
                    let v = policy::check(&s, role, &allowed, limits);
                    // Refused: dropped here, on a thread with room to.
                    (v.result.is_ok().then_some(s), v)
                })
                .collect())
        });
        job.await.unwrap_or_else(|e| Err(ParseFailure::Syntax(format!("the parser failed: {e}"))))
    }

    /// Plans a checked statement in `state` (the connection's session).
    /// The plan is also analysed (type coercion), so the column types a
    /// client is told are those of the rows it gets: the raw plan of
    /// `CASE WHEN c THEN 0 ELSE 'x' END` says Int64 and the rows are text.
    pub async fn plan(&self, state: SessionState, stmt: Statement) -> PgWireResult<LogicalPlan> {
        let planned = self.job(move || async move {
            let plan = state.statement_to_plan(DfStatement::Statement(Box::new(stmt))).await?;
            if plan.get_parameter_types()?.is_empty() {
                return state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {});
            }
            // With parameters, analysed too when their types allow it
            // (a parameter whose type is still unknown can stop coercion).
            Ok(state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {}).unwrap_or(plan))
        });
        match planned.await {
            Some(r) => r.map_err(df_error),
            None => Err(df_error(DataFusionError::Execution("planning was stopped".into()))),
        }
    }

    /// Runs a plan: its rows, produced when the stream is first read.
    pub fn execute(&self, job: Job) -> Rows {
        let handle = self.handle.clone();
        let service = self.service_pool.clone();
        let disk = self.disk.clone();
        let start = futures::stream::once(async move {
            let (tx, rx) = mpsc::channel::<Chunk>(2);
            let token = CancellationToken::new();
            let cancelled = token.clone();
            let slot = job.slots.clone().acquire_owned().await.expect("never closed");
            handle.spawn_blocking(move || {
                let _slot = slot;
                let Ok(rt) = job_runtime() else { return };
                rt.block_on(async move {
                    let errors = tx.clone();
                    let body = run(job.state, job.plan, job.fields, service, job.query_memory, disk, tx);
                    let result = tokio::select! {
                        biased;
                        _ = cancelled.cancelled() => return,
                        r = tokio::time::timeout_at(job.deadline, body) => r.unwrap_or(Err(job.timeout)),
                    };
                    if let Err(e) = result {
                        let _ = errors.send(Err(e)).await;
                    }
                });
            });
            rows_from(rx, Arc::new(CancelOnDrop(token)))
        });
        Box::pin(start.flatten())
    }
}

/// Encoded rows with the reservation that holds their memory.
type Chunk = PgWireResult<(Vec<DataRow>, Option<vru_queries::datafusion::execution::memory_pool::MemoryReservation>)>;

/// Rows from the channel; the job is cancelled when the stream is dropped.
fn rows_from(rx: mpsc::Receiver<Chunk>, guard: Arc<CancelOnDrop>) -> impl Stream<Item = PgWireResult<DataRow>> + Send {
    futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let item = rx.recv().await?;
        Some((item, (rx, guard)))
    })
    .flat_map(|chunk| {
        let rows: Vec<PgWireResult<DataRow>> = match chunk {
            // The reservation for the encoded rows ends here: they are
            // about to be written to the socket.
            Ok((rows, _reservation)) => rows.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(rows)
    })
}

async fn run(
    state: SessionState,
    plan: LogicalPlan,
    fields: Arc<Vec<FieldInfo>>,
    service: Arc<dyn MemoryPool>,
    query_memory: usize,
    disk: Arc<DiskManager>,
    tx: mpsc::Sender<Chunk>,
) -> PgWireResult<()> {
    let pool: Arc<dyn MemoryPool> = QueryPool::new(service, query_memory);
    let plan = guard_plan(plan, &pool).map_err(df_error)?;
    let physical = state.create_physical_plan(&plan).await.map_err(df_error)?;
    let physical = guard_physical(physical, &pool).map_err(df_error)?;
    let mut env = state.runtime_env().as_ref().clone();
    env.memory_pool = pool.clone();
    env.disk_manager = disk;
    let ctx = Arc::new(TaskContext::from(&state).with_runtime(Arc::new(env)));
    let mut batches = execute_stream(physical, ctx).map_err(df_error)?;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(df_error)?;
        let rows = encode_recordbatch(fields.clone(), batch).collect::<PgWireResult<Vec<DataRow>>>()?;
        let bytes: usize = rows.iter().map(|r| r.data.len() + 16).sum();
        let reservation = MemoryConsumer::new("encoded rows").register(&pool);
        reservation.try_grow(bytes).map_err(df_error)?;
        if tx.send(Ok((rows, Some(reservation)))).await.is_err() {
            // The connection stopped reading.
            return Ok(());
        }
    }
    Ok(())
}

/// The deadline of a query started now: the server's limit, or the
/// client's `statement_timeout` when shorter.
pub fn deadline(server: Duration, client: Option<Duration>) -> (Instant, Duration) {
    let limit = client.filter(|c| !c.is_zero()).map_or(server, |c| c.min(server));
    (Instant::now() + limit, limit)
}
