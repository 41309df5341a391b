//! Builds the DataFusion session every consumer of the lake uses: the CLI,
//! the reports, the SQL server and the tests. One function, so a measure
//! cannot mean one thing in the report and another in psql.
//!
//! What it registers, in order:
//! 1. each event table's full history as `<table>_log` (every record
//!    version ever received, less what retention has erased), and its
//!    current state as the view `<table>` (the latest version of each
//!    record); `retention_runs` (deletion management information) and
//!    `retention_markers` (erased event ids, hashes only);
//! 2. reference tables `lsoa_lookup`, `population`, `imd`;
//! 3. configuration as tables: `sv_classification`, `sv_categories`,
//!    `sv_crime_types`, `offence_codes`, `focus_area`, `financial_years`, `calendar_years`, `event_fields`,
//!    `params`;
//! 4. helper views (`sql/views/`) and one view per measure (`measure_h1`...).

use crate::QueryError;
use crate::computed::ComputedView;
use crate::measures::{MEASURES, VIEWS};
use crate::tables;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::{MemTable, TableType};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;
use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;
use vru_model::classification::{Catalogue, Definition};
use vru_model::retention::schema::{APP_DELETED, APP_MARKED, MARKERS, RUNS, markers_schema, runs_schema};
use vru_model::tables::{Reference, Table};

#[derive(Debug, Clone)]
pub enum LakeSource {
    /// Delta tables of `lake` (a directory or an object-store prefix). `versions` pins tables to a version (time
    /// travel), so a published report can be reproduced exactly; a table
    /// pinned to `None` was not in the lake then and is read as empty even
    /// if it exists now. Tables not named are read at their latest version.
    Delta { lake: vru_lake::Lake, versions: BTreeMap<String, Option<u64>> },
    /// Empty in-memory tables with every column nullable, for fixtures that
    /// insert only the columns a measure reads.
    Fixture,
}

#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub lake: LakeSource,
    pub definition: Definition,
    pub catalogue: Catalogue,
    /// Local authority codes of the focus area.
    pub focus_area: Vec<String>,
    pub focus_name: String,
    /// The reference date for rolling windows; `None`: the last day with a
    /// police-recorded offence in the lake (else today).
    pub as_of: Option<NaiveDate>,
    pub cohort_years: i32,
    /// Fixed, so results and plans do not depend on the machine's cores.
    pub target_partitions: usize,
    /// Replaces the default C1 cohort (`sql/views/c1_cohort.sql`).
    pub cohort_sql: Option<String>,
    /// Whether and when each current-state table and `crimes` is computed
    /// once for the session rather than at every reference. See
    /// [`Materialise`].
    pub materialise: Materialise,
    /// Where the materialised current state goes and how much memory the
    /// session's queries may hold; `None`: in memory, under `memory_cap`.
    /// See [`Scratch`].
    pub scratch: Option<Scratch>,
    /// Without scratch, the bytes the session's queries may hold before
    /// they fail (they cannot spill): half the machine's memory by default
    /// ([`crate::machine_cap`]); `None`: unbounded. Read only without
    /// scratch (`Scratch::memory` bounds a session with one).
    pub memory_cap: Option<usize>,
    /// Which measure views (`measure_h1`...) to plan. None for the SQL
    /// service's quick generations, which register measures an earlier
    /// generation computed: planning the 22 views took about half of a
    /// session's 0.5-0.6 s on the 10x lake. `vru sql` plans those its
    /// query names ([`MeasureViews::named_in`]).
    pub measures: MeasureViews,
    /// Lake tables an earlier session opened ([`Session::opened`]). A
    /// table wanted at a later version is brought forward from its log's
    /// new commits, and one at the same version is reused, instead of
    /// being read again from its last checkpoint: how the SQL service
    /// follows a lake that commits every second.
    pub opened: Arc<BTreeMap<String, DeltaTable>>,
}

/// When a session computes each current-state table and `crimes` once.
/// A view is inlined at every reference, so without this each measure
/// recomputes the latest-version window over the whole log once per
/// reference (123 windows across the measures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialise {
    /// Views, computed at every reference: fixtures (filled after the
    /// session is built) and the SQL service's quick generations (served
    /// at once, then replaced by a warmed one).
    Never,
    /// Each the first time a query reads it ([`crate::ComputedView`]):
    /// `vru sql` and `vru measures`, where one measure should cost what
    /// that measure reads, not the whole current state.
    OnFirstUse,
    /// All of them while the session is built: reports, and the SQL
    /// service's full generations, whose cost is paid before they serve.
    AtBuild,
}

/// Which measure views a session plans ([`SessionOptions::measures`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeasureViews {
    All,
    None,
    /// These views only (lower-case names).
    Named(BTreeSet<String>),
}

impl MeasureViews {
    /// The measure views `sql` reads: planning a view costs ~2 ms, all 22
    /// a third of `vru sql`'s start-up on the demo lake, and a query reads
    /// one or two. `All` for a statement that lists the catalog (`SHOW
    /// TABLES`, `information_schema`), and for one that does not parse, so
    /// that DataFusion reports the error as it would have.
    pub fn named_in(sql: &str) -> MeasureViews {
        let state = SessionContext::new().state();
        let dialect = state.config().options().sql_parser.dialect;
        let Ok(statement) = state.sql_to_statement(sql, &dialect) else { return MeasureViews::All };
        let Ok(references) = state.resolve_table_references(&statement) else { return MeasureViews::All };
        let mut named = BTreeSet::new();
        for r in references {
            if r.schema().is_some_and(|s| s.eq_ignore_ascii_case("information_schema")) {
                return MeasureViews::All;
            }
            let table = r.table().to_lowercase();
            if MEASURES.iter().any(|m| m.view == table) {
                named.insert(table);
            }
        }
        MeasureViews::Named(named)
    }

    fn wants(&self, view: &str) -> bool {
        match self {
            MeasureViews::All => true,
            MeasureViews::None => false,
            MeasureViews::Named(views) => views.contains(view),
        }
    }
}

/// Disk for a batch session (`vru report`, `vru measures`): the
/// materialised current state is written there as Parquet, rather than
/// held in memory for the session's life, and queries spill there once
/// they hold `memory` bytes. Without it the 10x city's report peaked at
/// ~1.05 GB, most of it the current state held as Arrow batches.
///
/// The files hold pseudonymised lake rows, so they are as sensitive as
/// the lake: each session writes under its own private directory
/// (`vru-scratch-<pid>-*`, mode 0700) that is removed when the session is
/// dropped, and a session sweeps the directories of processes that died
/// without removing theirs (a SIGKILL), so an erased record does not
/// outlive its retention in a scratch file.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub dir: std::path::PathBuf,
    /// Bytes the session's queries may hold before they spill (sorts,
    /// aggregates) or fail.
    pub memory: usize,
}

impl SessionOptions {
    pub fn new(lake: LakeSource, definition: Definition, focus_area: Vec<String>) -> Self {
        SessionOptions {
            lake,
            definition,
            catalogue: Catalogue::builtin(),
            focus_area,
            focus_name: "Focus area".into(),
            as_of: None,
            cohort_years: 3,
            target_partitions: 4,
            cohort_sql: None,
            materialise: Materialise::Never,
            scratch: None,
            memory_cap: crate::machine_cap(),
            measures: MeasureViews::All,
            opened: Default::default(),
        }
    }
}

pub struct Session {
    pub ctx: SessionContext,
    /// The Delta version of every lake table read (`None`: not in the lake
    /// yet, read as empty). Goes into report manifests.
    pub table_versions: BTreeMap<String, Option<u64>>,
    /// The reference date the rolling periods end on.
    pub as_of: NaiveDate,
    /// The session's scratch directory, removed when the last holder drops it.
    pub scratch: Option<Arc<tempfile::TempDir>>,
    /// The lake tables read, at the versions read, for a later session's
    /// [`SessionOptions::opened`].
    pub opened: BTreeMap<String, DeltaTable>,
}

/// A lake table's provider, its version, and the retention runs whose
/// markers it must hide: `(deleted, marked)` from its `txn` actions.
type Found = (Arc<dyn TableProvider>, u64, (i64, i64));

/// A table with retention markers to hide: its raw provider and `(deleted, marked)`.
type Pending = (Arc<dyn TableProvider>, (i64, i64));

async fn delta_provider(
    lake: &vru_lake::Lake,
    name: &str,
    version: Option<u64>,
    earlier: Option<&DeltaTable>,
) -> Result<Option<(Found, DeltaTable)>, QueryError> {
    let Some(table) = open_table(lake, name, version, earlier).await? else { return Ok(None) };
    let v = table.version().unwrap_or_default();
    let seqs = retention_seqs(&table).await.map_err(|source| QueryError::Delta { table: name.to_string(), source })?;
    Ok(Some(((table.table_provider().await?, v, seqs), table)))
}

/// The lake's table `name` (a log, by its table's name, or a reference
/// table) at the version the session is pinned to, or its latest: `None`
/// for fixtures, or a table the lake does not have (yet).
async fn find(opts: &SessionOptions, name: &str) -> Result<Option<(Found, DeltaTable)>, QueryError> {
    let LakeSource::Delta { lake, versions } = &opts.lake else { return Ok(None) };
    let table = name.trim_end_matches("_log");
    let earlier = opts.opened.get(table);
    match versions.get(table).copied() {
        Some(None) => Ok(None),
        Some(Some(v)) => Ok(Some(delta_provider(lake, table, Some(v), earlier).await?.ok_or_else(|| {
            QueryError::Invalid(format!("table {table} was at version {v} but is not in the lake at {}", lake.location()))
        })?)),
        None => delta_provider(lake, table, None, earlier).await,
    }
}

/// The table at `version` (`None`: its latest): `earlier` as it is when it
/// is at that version, brought forward through the commits since when it
/// is older (or `version` is the latest), else opened from the lake.
async fn open_table(
    lake: &vru_lake::Lake,
    name: &str,
    version: Option<u64>,
    earlier: Option<&DeltaTable>,
) -> Result<Option<DeltaTable>, QueryError> {
    let have = earlier.and_then(|t| t.version().map(|v| (t, v)));
    match (have, version) {
        (Some((t, have)), Some(want)) if have == want => Ok(Some(t.clone())),
        (Some((t, have)), want) if want.is_none_or(|want| have < want) => {
            let mut t = t.clone();
            match t.update_incremental(want).await {
                Ok(()) => Ok(Some(t)),
                Err(e) => {
                    tracing::warn!(table = name, "reading the table again: its new commits could not be applied: {e}");
                    Ok(lake.open_at(name, version).await?)
                }
            }
        }
        _ => Ok(lake.open_at(name, version).await?),
    }
}

/// `(deleted, marked)`: the retention runs recorded in the table's log
/// (`vru_ingest::retention::markers`).
pub async fn retention_seqs(table: &DeltaTable) -> Result<(i64, i64), deltalake::DeltaTableError> {
    let snapshot = table.snapshot()?;
    let get = async |app: &str| snapshot.transaction_version(table.log_store().as_ref(), app).await.map(|v| v.unwrap_or(0));
    Ok((get(APP_DELETED).await?, get(APP_MARKED).await?))
}

/// The table's history less the events retention runs in `(deleted,
/// marked]` erased: stage 1 of a run, in effect before any file is
/// rewritten. A table with nothing pending is read as it is.
async fn without_erased(
    ctx: &SessionContext,
    t: Table,
    raw: Arc<dyn TableProvider>,
    (deleted, marked): (i64, i64),
) -> Result<Arc<dyn TableProvider>, QueryError> {
    use datafusion::common::JoinType;
    use datafusion::prelude::{col, lit};
    let markers = ctx
        .table(MARKERS)
        .await?
        .filter(col("table_name").eq(lit(t.name())).and(col("run_seq").gt(lit(deleted))).and(col("run_seq").lt_eq(lit(marked))))?
        .select(vec![col("event_id").alias("vru_erased_event_id")])?;
    let log = ctx.read_table(raw)?.join(markers, JoinType::LeftAnti, &["event_id"], &["vru_erased_event_id"], None)?;
    Ok(log.into_view())
}

fn empty(schema: SchemaRef) -> Result<Arc<dyn TableProvider>, QueryError> {
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?))
}

/// The current state of an event table: the latest version of each record
/// (for content-addressed sources, the latest revision ingested). `cols`
/// are the log's own columns, so a table written before a column was added
/// (or read at an old version) still has a current state.
///
/// Two plans for one meaning, chosen by whether the session may spill:
///
/// - In memory (no scratch directory: `vru sql`, `vru measures` and the
///   SQL service by default), each record's winning event id is picked by
///   `max` over a key that sorts as the versions rank ([`crate::latest`])
///   and the log is joined back on it.
///   The window below sorted every column of the whole log (85-94% of a
///   heavy measure's time, issue 13); the aggregate keeps one id per
///   record in a hash table, and the log streams past a join built on
///   those ids alone (the winners are the join's first side, so the log
///   is never held). Event ids are unique in the lake, so each record
///   still yields one row. Filters on the current state's columns are
///   pushed into the log's scan past the join: sound, as the winners are
///   chosen before it.
/// - Under a memory limit with a scratch directory (`measures.scratch_dir`),
///   `row_number()` over the records, as before: DataFusion 55 can spill a
///   sort, but not a final aggregate or a join's build side, and on the 10x
///   city the aggregate alone needed more than the report's 512 MiB pool.
///
/// Both give the same rows (the same order picks the winner:
/// `record_version`, then `ingested_at`, then `event_id`, all descending,
/// so even a tie has one answer): the slt files run under each
/// (`queries/tests/slt.rs`).
fn current_state_sql(t: Table, cols: &[String], spillable: bool) -> String {
    let name = t.name();
    if spillable {
        return format!(
            "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY partner, record_id \
             ORDER BY record_version DESC, ingested_at DESC, event_id DESC) AS vru_rank FROM {name}_log) latest WHERE vru_rank = 1",
            cols = cols.join(", "),
        );
    }
    let (key, id) = (crate::latest::VERSION_KEY, crate::latest::KEY_EVENT_ID);
    format!(
        "SELECT {cols} FROM (SELECT {id}(max({key}(CAST(record_version AS BIGINT), CAST(ingested_at AS BIGINT), event_id))) AS vru_latest \
         FROM {name}_log GROUP BY partner, record_id) latest JOIN {name}_log l ON l.event_id = latest.vru_latest",
        cols = cols.iter().map(|c| format!("l.{c}")).collect::<Vec<_>>().join(", "),
    )
}

pub async fn build_session(opts: &SessionOptions) -> Result<Session, QueryError> {
    let config = SessionConfig::new().with_target_partitions(opts.target_partitions).with_information_schema(true);
    let scratch = match &opts.scratch {
        Some(s) => Some(Arc::new(crate::scratch::private_dir(&s.dir).map_err(|e| QueryError::scratch(&s.dir, e))?)),
        None => None,
    };
    let ctx = match (&opts.scratch, &scratch) {
        (Some(s), Some(dir)) => SessionContext::new_with_config_rt(config, crate::scratch::runtime(dir.path(), s.memory)?),
        _ => match opts.memory_cap {
            Some(cap) => SessionContext::new_with_config_rt(config, crate::scratch::in_memory_runtime(cap)?),
            None => SessionContext::new_with_config(config),
        },
    };
    ctx.register_udf(crate::latest::version_key());
    ctx.register_udf(crate::latest::key_event_id());
    ctx.register_udf(crate::latest::crime_key_udf());
    ctx.register_udf(crate::latest::crime_key_event_id_udf());
    let started = std::time::Instant::now();
    let mut table_versions = BTreeMap::new();
    let mut opened = BTreeMap::new();
    let mut pending: BTreeMap<&'static str, Pending> = BTreeMap::new();

    let relaxed = |s: SchemaRef| -> SchemaRef {
        Arc::new(datafusion::arrow::datatypes::Schema::new(
            s.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
        ))
    };
    // Each table: its name, its schema when absent from the lake, and the
    // fixtures' (nullable) schema.
    let specs: Vec<(String, SchemaRef, SchemaRef)> = Table::ALL
        .iter()
        .map(|t| (format!("{}_log", t.name()), t.schema(), t.relaxed_schema()))
        .chain(Reference::ALL.iter().map(|r| (r.name().to_string(), r.schema(), relaxed(r.schema()))))
        .chain([
            (RUNS.to_string(), runs_schema(), relaxed(runs_schema())),
            (MARKERS.to_string(), markers_schema(), relaxed(markers_schema())),
        ])
        .collect();
    // Opened together: each is a few reads of its log (from object storage,
    // a round trip each), ~100 ms in all one after another on the demo lake.
    let found = futures::future::try_join_all(specs.iter().map(|(name, ..)| find(opts, name))).await?;
    for ((name, strict, relaxed), found) in specs.into_iter().zip(found) {
        let table = name.trim_end_matches("_log");
        let provider = match (&opts.lake, found) {
            (LakeSource::Fixture, _) => empty(relaxed)?,
            (LakeSource::Delta { .. }, Some(((p, v, (deleted, marked)), delta))) => {
                table_versions.insert(table.to_string(), Some(v));
                opened.insert(table.to_string(), delta);
                if marked > deleted
                    && let Some(t) = Table::from_name(table)
                {
                    pending.insert(t.name(), (p.clone(), (deleted, marked)));
                }
                p
            }
            (LakeSource::Delta { .. }, None) => {
                table_versions.insert(table.to_string(), None);
                empty(strict)?
            }
        };
        ctx.register_table(name.as_str(), provider)?;
    }
    for (name, (raw, seqs)) in pending {
        let t = Table::from_name(name).expect("an event table");
        let log = without_erased(&ctx, t, raw, seqs).await?;
        ctx.deregister_table(format!("{name}_log"))?;
        ctx.register_table(format!("{name}_log"), log)?;
    }
    for t in Table::ALL {
        let log = ctx.table_provider(format!("{}_log", t.name())).await?;
        let cols: Vec<String> = log.schema().fields().iter().map(|f| f.name().clone()).collect();
        create_view(&ctx, t.name(), &current_state_sql(*t, &cols, opts.scratch.is_some()), "current-state view").await?;
    }
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "session: lake tables opened");
    let materialise = if matches!(opts.lake, LakeSource::Delta { .. }) { opts.materialise } else { Materialise::Never };
    if materialise != Materialise::Never {
        for t in Table::ALL {
            materialise_view(&ctx, t.name(), materialise, &scratch).await?;
        }
    }

    let as_of = match opts.as_of {
        Some(d) => d,
        None => last_offence_date(&ctx).await?.unwrap_or_else(|| chrono::Utc::now().date_naive()),
    };
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "session: reference date found");
    ctx.register_table("sv_classification", tables::sv_classification(&opts.definition, &opts.catalogue))?;
    ctx.register_table("sv_crime_types", tables::sv_crime_types(&opts.definition))?;
    ctx.register_table("sv_categories", tables::sv_categories(&opts.definition))?;
    ctx.register_table("offence_codes", tables::offence_codes(&opts.catalogue))?;
    ctx.register_table("focus_area", tables::focus_area(&opts.focus_area))?;
    ctx.register_table("financial_years", tables::financial_years())?;
    ctx.register_table("calendar_years", tables::calendar_years())?;
    ctx.register_table("params", tables::params(as_of, opts.cohort_years, &opts.focus_name))?;
    ctx.register_table("event_fields", tables::event_fields())?;
    create_view(&ctx, "all_events", &tables::all_events_sql(), "all_events (generated from the source registry)").await?;

    for (name, sql) in VIEWS {
        let sql = match (*name, &opts.cohort_sql) {
            ("c1_cohort", Some(custom)) => custom.as_str(),
            _ => sql,
        };
        create_view(&ctx, name, sql, &format!("sql/views/{name}.sql")).await?;
        if materialise != Materialise::Never && MATERIALISED_VIEWS.contains(name) {
            materialise_view(&ctx, name, materialise, &scratch).await?;
        }
    }
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "session: helper views planned");
    if opts.measures != MeasureViews::None {
        for m in MEASURES.iter().filter(|m| opts.measures.wants(m.view)) {
            create_view(&ctx, m.view, m.sql, &format!("sql/measures/{}.sql", m.id.to_lowercase())).await?;
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "session: measure views planned");
    }
    Ok(Session { ctx, table_versions, as_of, scratch, opened })
}

async fn last_offence_date(ctx: &SessionContext) -> Result<Option<NaiveDate>, QueryError> {
    let batches = ctx.sql("SELECT CAST(max(occurred_at) AS DATE) FROM police_offences_log").await?.collect().await?;
    use datafusion::arrow::array::{Array, Date32Array};
    let Some(col) = batches.first().map(|b| b.column(0).clone()) else { return Ok(None) };
    let dates = col.as_any().downcast_ref::<Date32Array>();
    Ok(dates.filter(|a| !a.is_empty() && !a.is_null(0)).and_then(|a| a.value_as_date(0)))
}

/// Helper views referenced by many measures, materialised with the current
/// state (`SessionOptions::materialise`). A view's plan is bound when it is
/// created, so each is replaced before any later view refers to it.
///
/// Besides `crimes`, the small ones (at most a few thousand rows at 10x):
/// inlined, `report_periods` alone re-read the police log's first and last
/// dates 50 times in P1 and 60 in K1 (a scan of 0.6M rows each at 10x).
const MATERIALISED_VIEWS: &[&str] = &[
    "areas",
    "area_population",
    "area_population_bands",
    "fy_population_year",
    "crimes",
    "data_years",
    "data_calendar_years",
    "report_periods",
    "period_coverage",
    "youth_sv_charges",
    "cohort_windows",
    "y1_cohort_charges",
    "c1_cohort",
    "focus_lsoa_periods",
    "d1_lsoa_rates",
];

/// Replaces a view by one computed once (in memory, or as Parquet files
/// in the session's scratch directory), now or on first use.
async fn materialise_view(
    ctx: &SessionContext,
    name: &str,
    when: Materialise,
    disk: &Option<Arc<tempfile::TempDir>>,
) -> Result<(), QueryError> {
    // Computed on first use, it is still a view to catalog browsers, as
    // it was before (`vru sql`, and the comparison with DuckDB, read the
    // kinds); computed at build, a table, as the MemTable it replaced was.
    let kind = if when == Materialise::AtBuild { TableType::Base } else { TableType::View };
    let computed = ComputedView::replace(ctx, name, kind, disk.clone()).await?;
    if let (Some(view), Materialise::AtBuild) = (computed, when) {
        view.table(&ctx.state()).await?;
    }
    Ok(())
}

pub(crate) async fn create_view(ctx: &SessionContext, name: &str, sql: &str, file: &str) -> Result<(), QueryError> {
    let body = sql.trim().trim_end_matches(';');
    ctx.sql(&format!("CREATE VIEW {name} AS {body}")).await.map_err(|source| QueryError::View { file: file.to_string(), source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(views: &[&str]) -> MeasureViews {
        MeasureViews::Named(views.iter().map(|v| v.to_string()).collect())
    }

    /// `vru sql` plans the measure views its query reads, wherever it reads
    /// them, and every view when the query lists the catalog or does not
    /// parse (DataFusion then reports the error as before).
    #[test]
    fn a_query_plans_the_measure_views_it_names() {
        let cases = [
            ("SELECT * FROM measure_h1", named(&["measure_h1"])),
            ("SELECT * FROM MEASURE_H1 a JOIN measure_k1 b USING (period)", named(&["measure_h1", "measure_k1"])),
            (
                "SELECT (SELECT count(*) FROM measure_r1) WHERE EXISTS (SELECT 1 FROM public.measure_p1)",
                named(&["measure_p1", "measure_r1"]),
            ),
            ("SELECT count(*) FROM police_offences", named(&[])),
            ("WITH measure_h1 AS (SELECT 1 AS x) SELECT * FROM measure_h1", named(&[])),
            ("DESCRIBE measure_c1", named(&["measure_c1"])),
            ("SHOW TABLES", MeasureViews::All),
            ("SELECT table_name FROM information_schema.tables", MeasureViews::All),
            ("SELEC * FORM measure_h1", MeasureViews::All),
        ];
        for (sql, want) in cases {
            assert_eq!(MeasureViews::named_in(sql), want, "{sql}");
        }
    }
}
