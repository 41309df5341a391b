//! One DataFusion session per role, all built from the same `build_session`
//! the reports use, and rebuilt when the lake moves on.
//!
//! - `analyst`: the whole session (row-level tables are pseudonymised in
//!   the lake already), measures as live views;
//! - `publisher`: each `measure_*` as a table under `public` disclosure
//!   control, plus the reference and definition tables;
//! - `partner`: each `measure_*` under `partner` disclosure control, the
//!   reference and definition tables, and `own_<table>`: the current state
//!   of each table of the partner's source, only the rows whose `partner`
//!   column is the user's organisation.
//!
//! Measures are computed at most once per generation (`vru_queries::ComputedView`).
//!
//! A generation is one snapshot of the lake. Every `refresh` interval a
//! background task reads the latest Delta version of every table from the
//! log directory listings (no data read); if any moved, it builds
//! a new generation and *warms* it (every measure computed, then put under
//! partner and public disclosure control) before connections switch to it
//! at their next query. So no user's query computes measures inside its
//! own time limit, and a slow computation cannot time out again and again.

use crate::ServerError;
use crate::policy::{Allowed, OWN_PREFIX, Principal, Role};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};
use vru_model::event::Source;
use vru_model::tables::{Reference, Table};
use vru_queries::datafusion::arrow::array::{ArrayRef, StringArray};
use vru_queries::datafusion::arrow::compute::concat;
use vru_queries::datafusion::arrow::datatypes::{DataType, Field, Schema};
use vru_queries::datafusion::arrow::record_batch::RecordBatch;
use vru_queries::datafusion::catalog::TableProvider;
use vru_queries::datafusion::datasource::MemTable;
use vru_queries::datafusion::datasource::TableType;
use vru_queries::datafusion::prelude::{SessionConfig, SessionContext};
use vru_queries::disclosure::{self, Grid, Policy, Protection};
use vru_queries::measures::{MEASURES, Measure};
use vru_queries::{ComputedView, DeltaTable, LakeSource, Materialise, MeasureViews, SessionOptions, build_session};

/// Tables built from configuration (definition, areas, periods): not
/// personal data, shown to every role beside the reference tables.
const DEFINITION_TABLES: &[&str] = &[
    "sv_classification",
    "sv_crime_types",
    "sv_categories",
    "offence_codes",
    "focus_area",
    "financial_years",
    "calendar_years",
    "params",
    "event_fields",
];

const CATALOG: &str = "datafusion";

/// A role's session and what may be named in it.
#[derive(Clone)]
pub struct RoleCatalog {
    pub ctx: SessionContext,
    pub allowed: Arc<Allowed>,
}

type Disclosed = Vec<(String, Arc<dyn TableProvider>)>;

pub struct Generation {
    pub id: u64,
    pub versions: BTreeMap<String, Option<u64>>,
    analyst: RoleCatalog,
    publisher: OnceCell<RoleCatalog>,
    partner_measures: OnceCell<Disclosed>,
    /// What disclosure control knows of the periods (and, when they
    /// overlap, the measures over their pieces): computed once for the
    /// partner and the publisher catalogs.
    disclosure: OnceCell<disclosure::Context>,
    partners: Mutex<HashMap<String, RoleCatalog>>,
    target_partitions: usize,
    focus_area: Vec<String>,
    protection: Protection,
    /// Built by [`Generation::quick`]: its measures are an earlier one's.
    pub quick: bool,
    /// The lake tables as this generation read them, for the next one to
    /// bring forward ([`SessionOptions::opened`]).
    opened: Arc<BTreeMap<String, DeltaTable>>,
}

struct Watch {
    /// Served to the next query.
    current: Arc<Generation>,
    /// The newest generation whose measures are computed; `current`'s
    /// measures are this one's.
    warmed: Arc<Generation>,
}

pub struct Catalogs {
    template: SessionOptions,
    protection: Protection,
    lake: vru_lake::Lake,
    refresh: Duration,
    watch: Mutex<Watch>,
    /// Generation ids, unique so a connection notices every switch.
    next_id: std::sync::atomic::AtomicU64,
}

/// The latest version of every lake table, from its log directory listing.
/// `known` (the versions served now) narrows each listing to later
/// commits, which on object storage keeps a poll at one request per table.
pub async fn lake_versions(lake: &vru_lake::Lake, known: &BTreeMap<String, Option<u64>>) -> BTreeMap<String, Option<u64>> {
    let names = Table::ALL.iter().map(|t| t.name()).chain(Reference::ALL.iter().map(|r| r.name()));
    let mut out = BTreeMap::new();
    for name in names {
        let seen = known.get(name).copied().flatten();
        out.insert(name.to_string(), lake.latest_version_after(name, seen).await);
    }
    out
}

fn table_names(ctx: &SessionContext) -> BTreeSet<String> {
    ctx.catalog(CATALOG).and_then(|c| c.schema("public")).map(|s| s.table_names().into_iter().collect()).unwrap_or_default()
}

fn finish(ctx: SessionContext, known: &BTreeSet<String>) -> Result<RoleCatalog, ServerError> {
    let tables = table_names(&ctx);
    setup_pg_catalog(&ctx, CATALOG, EmptyContextProvider).map_err(ServerError::DataFusion)?;
    // Over a weak reference: the crate's own holds the session's tables
    // forever (see `pg_weak`).
    crate::pg_weak::replace(&ctx, CATALOG)?;
    crate::pg_compat::register(&ctx);
    Ok(RoleCatalog { ctx, allowed: Arc::new(Allowed { tables, known: known.clone() }) })
}

/// A measure's rows after disclosure control, as a table. Count and
/// derived columns become text, since a suppressed cell is `*`; the other
/// columns keep their types.
fn disclosed_table(m: &Measure, schema: &Schema, batches: &[RecordBatch], shown: &Grid) -> Result<Arc<dyn TableProvider>, ServerError> {
    let controlled = |name: &str| m.spec.counts.contains(&name) || m.spec.derived.iter().any(|(d, _)| *d == name);
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if controlled(f.name()) {
            // No batches, no grid columns: an empty column.
            let values: StringArray = match shown.col(f.name()) {
                Some(c) => shown.rows.iter().map(|r| r[c].clone()).collect(),
                None => StringArray::from(Vec::<Option<String>>::new()),
            };
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            columns.push(Arc::new(values));
        } else {
            fields.push(f.as_ref().clone().with_nullable(true));
            let parts: Vec<&dyn vru_queries::datafusion::arrow::array::Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            columns.push(if parts.is_empty() {
                vru_queries::datafusion::arrow::array::new_empty_array(f.data_type())
            } else {
                concat(&parts)?
            });
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `measure_q1` lists each extract by file name: a partner sees its own
/// extracts only, a publisher none of the file names.
async fn restrict_q1(ctx: &SessionContext, partner: Option<&str>) -> Result<(), ServerError> {
    use vru_queries::datafusion::prelude::{col, lit};
    const Q1: &str = "measure_q1";
    let Ok(df) = ctx.table(Q1).await else { return Ok(()) };
    let restricted = match partner {
        Some(org) => df.filter(col("partner").eq(lit(org)))?,
        None => {
            let keep: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).filter(|n| n != "file_name").collect();
            df.select_columns(&keep.iter().map(String::as_str).collect::<Vec<_>>())?
        }
    };
    let view = restricted.into_view();
    ctx.deregister_table(Q1)?;
    ctx.register_table(Q1, view)?;
    Ok(())
}

impl Generation {
    async fn build(
        id: u64,
        template: &SessionOptions,
        protection: Protection,
        versions: BTreeMap<String, Option<u64>>,
        opened: Arc<BTreeMap<String, DeltaTable>>,
    ) -> Result<Generation, ServerError> {
        let session = build_session(&SessionOptions { opened, ..template.clone() }).await?;
        for m in MEASURES {
            // Still a view to catalog browsers (`\dv`).
            ComputedView::replace(&session.ctx, m.view, TableType::View, None).await?;
        }
        let mut known = table_names(&session.ctx);
        // Partners' own-rows names exist too: refused, not "not found", to others.
        known.extend(Table::ALL.iter().map(|t| format!("{OWN_PREFIX}{}", t.name())));
        let analyst = finish(session.ctx, &known)?;
        Ok(Generation {
            id,
            versions,
            analyst,
            publisher: OnceCell::new(),
            partner_measures: OnceCell::new(),
            disclosure: OnceCell::new(),
            partners: Mutex::new(HashMap::new()),
            target_partitions: template.target_partitions,
            focus_area: template.focus_area.clone(),
            protection,
            quick: false,
            opened: Arc::new(session.opened),
        })
    }

    /// A generation of the lake's newest commits that computes nothing: its
    /// tables and logs are read from the new snapshot (current state as a
    /// view, not materialised) and its measures, and the publisher's and
    /// partners' disclosed measures, are `warmed`'s, already computed. So a
    /// commit is served within one poll of the lake, and measures follow
    /// when a full generation has been warmed ([`Catalogs::catch_up`]).
    async fn quick(
        id: u64,
        template: &SessionOptions,
        protection: Protection,
        versions: BTreeMap<String, Option<u64>>,
        warmed: &Generation,
        opened: Arc<BTreeMap<String, DeltaTable>>,
    ) -> Result<Generation, ServerError> {
        let options = SessionOptions { materialise: Materialise::Never, measures: MeasureViews::None, opened, ..template.clone() };
        let session = build_session(&options).await?;
        for m in MEASURES {
            let computed = warmed.analyst.ctx.table_provider(m.view).await?;
            session.ctx.register_table(m.view, computed)?;
        }
        let analyst = finish(session.ctx, &warmed.analyst.allowed.known)?;
        Ok(Generation {
            id,
            versions,
            analyst,
            publisher: OnceCell::new_with(warmed.publisher.get().cloned()),
            partner_measures: OnceCell::new_with(warmed.partner_measures.get().cloned()),
            disclosure: OnceCell::new_with(warmed.disclosure.get().cloned()),
            partners: Mutex::new(HashMap::new()),
            target_partitions: template.target_partitions,
            focus_area: template.focus_area.clone(),
            protection,
            quick: true,
            opened: Arc::new(session.opened),
        })
    }

    fn empty_ctx(&self) -> SessionContext {
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(self.target_partitions).with_information_schema(true))
    }

    /// Every measure under `policy`, protected together (an intruder has
    /// every table at once). A measure that fails (a lake missing a source)
    /// is left out with a warning rather than failing the role.
    async fn disclosed(&self, policy: Policy) -> Result<Disclosed, ServerError> {
        let mut exact = Vec::new();
        for m in MEASURES {
            let df = match self.analyst.ctx.sql(&m.controlled_rows()).await {
                Ok(df) => df,
                Err(e) => {
                    tracing::warn!(measure = m.view, "left out of the {} catalog: {e}", policy.as_str());
                    continue;
                }
            };
            let schema = df.schema().as_arrow().clone();
            match df.collect().await {
                Ok(batches) => {
                    let mut grid = vru_queries::report::grid_of(&batches)?;
                    grid.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
                    exact.push((m, schema, batches, grid));
                }
                Err(e) => tracing::warn!(measure = m.view, "left out of the {} catalog: {e}", policy.as_str()),
            }
        }
        let ctx = self
            .disclosure
            .get_or_try_init(|| async {
                disclosure::Context::from_session(&self.analyst.ctx, &self.focus_area).await.map_err(ServerError::from)
            })
            .await?;
        let outputs: Vec<_> = exact.iter().map(|(m, _, _, g)| (*m, g.clone())).collect();
        let protected = vru_queries::report::protect_outputs(&outputs, ctx, &self.protection.rules(policy))?;
        if let Some(e) = protected.audit.exposed.first() {
            // Refuse rather than serve a recoverable count.
            return Err(ServerError::Invalid(format!(
                "the {} measures are not served: the intruder audit finds {} exposed cell(s), e.g. {} ({})",
                policy.as_str(),
                protected.audit.exposed.len(),
                e.cell,
                e.interval
            )));
        }
        let mut out = Vec::new();
        for ((m, schema, batches, _), shown) in exact.iter().zip(&protected.grids) {
            out.push((m.view.to_string(), disclosed_table(m, schema, batches, shown)?));
        }
        Ok(out)
    }

    async fn register_reference(&self, ctx: &SessionContext) -> Result<(), ServerError> {
        for name in Reference::ALL.iter().map(|r| r.name()).chain(DEFINITION_TABLES.iter().copied()) {
            if let Ok(p) = self.analyst.ctx.table_provider(name).await {
                ctx.register_table(name, p)?;
            }
        }
        Ok(())
    }

    pub async fn publisher(&self) -> Result<RoleCatalog, ServerError> {
        let r = self
            .publisher
            .get_or_try_init(|| async {
                let ctx = self.empty_ctx();
                for (name, table) in self.disclosed(Policy::Public).await? {
                    ctx.register_table(name, table)?;
                }
                restrict_q1(&ctx, None).await?;
                self.register_reference(&ctx).await?;
                finish(ctx, &self.analyst.allowed.known)
            })
            .await?;
        Ok(r.clone())
    }

    pub async fn partner(&self, org: &str) -> Result<RoleCatalog, ServerError> {
        let mut partners = self.partners.lock().await;
        if let Some(r) = partners.get(org) {
            return Ok(r.clone());
        }
        let measures = self.partner_measures.get_or_try_init(|| self.disclosed(Policy::Partner)).await?;
        let ctx = self.empty_ctx();
        for (name, table) in measures {
            ctx.register_table(name.as_str(), table.clone())?;
        }
        restrict_q1(&ctx, Some(org)).await?;
        self.register_reference(&ctx).await?;
        // The partner's own rows: tables its source sends, and the receipts
        // of its own files.
        let literal = org.replace('\'', "''");
        let source = Source::of_partner(org).ok();
        for t in Table::ALL {
            if !(Some(t.source()) == source || *t == Table::ExtractReceipts) {
                continue;
            }
            let df = self.analyst.ctx.sql(&format!("SELECT * FROM {} WHERE partner = '{literal}'", t.name())).await?;
            ctx.register_table(format!("{OWN_PREFIX}{}", t.name()), df.into_view())?;
        }
        let r = finish(ctx, &self.analyst.allowed.known)?;
        partners.insert(org.to_string(), r.clone());
        Ok(r)
    }

    /// Computes what the roles' first queries would: every measure view,
    /// and the measures under public and partner disclosure control.
    pub async fn warm(&self) {
        let started = Instant::now();
        for m in MEASURES {
            if let Ok(df) = self.analyst.ctx.sql(&format!("SELECT count(*) FROM {}", m.view)).await
                && let Err(e) = df.collect().await
            {
                tracing::warn!(measure = m.view, "not precomputed: {e}");
            }
        }
        if let Err(e) = self.publisher().await {
            tracing::warn!("publisher catalog not precomputed: {e}");
        }
        if let Err(e) = self.partner_measures.get_or_try_init(|| self.disclosed(Policy::Partner)).await {
            tracing::warn!("partner measures not precomputed: {e}");
        }
        tracing::info!(generation = self.id, ms = started.elapsed().as_millis() as u64, "measures precomputed");
    }

    pub async fn for_principal(&self, p: &Principal) -> Result<RoleCatalog, ServerError> {
        match (p.role, &p.partner) {
            (Role::Analyst, _) => Ok(self.analyst.clone()),
            (Role::Publisher, _) => self.publisher().await,
            (Role::Partner, Some(org)) => self.partner(org).await,
            (Role::Partner, None) => Err(ServerError::Invalid(format!("user {} has role partner but no organisation", p.user))),
        }
    }
}

impl Catalogs {
    /// Builds the first generation now, so a broken lake fails at start.
    pub async fn new(template: SessionOptions, refresh: Duration, protection: Protection) -> Result<Catalogs, ServerError> {
        let LakeSource::Delta { lake, .. } = &template.lake else {
            return Err(ServerError::Invalid("the SQL service serves a Delta lake".into()));
        };
        let lake = lake.clone();
        let versions = lake_versions(&lake, &BTreeMap::new()).await;
        let first = Arc::new(Generation::build(1, &template, protection, versions, Default::default()).await?);
        Ok(Catalogs {
            template,
            protection,
            lake,
            refresh,
            watch: Mutex::new(Watch { current: first.clone(), warmed: first }),
            next_id: 2.into(),
        })
    }

    /// The generation to run the next query on.
    pub async fn current(&self) -> Arc<Generation> {
        self.watch.lock().await.current.clone()
    }

    /// Follows the lake in two steps, run as two loops: each poll serves
    /// new commits at once ([`Catalogs::notice`], this loop), and, one at a
    /// time, a full generation is built and warmed behind it
    /// ([`Catalogs::keep_warm`], on a runtime of its own). A failed build
    /// (a commit half-visible on a network file system) leaves the
    /// previous one serving; the next round tries again.
    pub async fn keep_fresh(&self) {
        let mut tick = self.poll();
        loop {
            tick.tick().await;
            if let Err(e) = self.notice().await {
                tracing::warn!("the lake moved on but the session could not be rebuilt, still serving the previous one: {e}");
            }
        }
    }

    /// Warms the first generation, then builds and warms a full generation
    /// whenever a quick one is served ([`Catalogs::catch_up`]). Meant for
    /// the engine's background runtime: one thread at a low priority, so
    /// computing every measure of a new snapshot (seconds of work on the
    /// 10x city) cannot hold both cores while a commit waits to be served
    /// or an analyst's query waits to run.
    pub async fn keep_warm(&self) {
        self.current().await.warm().await;
        let mut tick = self.poll();
        loop {
            tick.tick().await;
            if let Err(e) = self.catch_up().await {
                tracing::warn!("measures of the new commits not computed, still serving the previous ones: {e}");
            }
        }
    }

    /// A tick every `refresh` (at least 50 ms); a late tick is not made up.
    fn poll(&self) -> tokio::time::Interval {
        let mut tick = tokio::time::interval(self.refresh.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves the lake's new commits, if any, in a [`Generation::quick`]
    /// over the warmed measures. True when it did.
    pub async fn notice(&self) -> Result<bool, ServerError> {
        let (served, warmed, opened) = {
            let w = self.watch.lock().await;
            (w.current.versions.clone(), w.warmed.clone(), w.current.opened.clone())
        };
        let versions = lake_versions(&self.lake, &served).await;
        if versions == served {
            return Ok(false);
        }
        let started = Instant::now();
        let id = self.id();
        let g = Generation::quick(id, &self.template, self.protection, versions, &warmed, opened).await?;
        let mut w = self.watch.lock().await;
        // Only forward: a full generation served meanwhile may be newer.
        if w.current.id < id && Arc::ptr_eq(&w.warmed, &warmed) {
            w.current = Arc::new(g);
            tracing::info!(generation = id, ms = started.elapsed().as_millis() as u64, "the lake moved on: serving new commits");
        }
        Ok(true)
    }

    /// Builds and warms a full generation of what is served, when its
    /// measures are an earlier snapshot's; serves it (or, if the lake moved
    /// on meanwhile, a quick one of the newest commits over its measures).
    /// True when it did.
    pub async fn catch_up(&self) -> Result<bool, ServerError> {
        let (versions, opened) = {
            let w = self.watch.lock().await;
            if !w.current.quick {
                return Ok(false);
            }
            (w.current.versions.clone(), w.current.opened.clone())
        };
        let id = self.id();
        let started = Instant::now();
        let full = Arc::new(Generation::build(id, &self.template, self.protection, versions, opened).await?);
        full.warm().await;
        let newer = {
            let mut w = self.watch.lock().await;
            w.warmed = full.clone();
            if w.current.versions == full.versions {
                w.current = full.clone();
                None
            } else {
                Some(w.current.versions.clone())
            }
        };
        tracing::info!(generation = id, ms = started.elapsed().as_millis() as u64, "measures of the new commits computed");
        if let Some(versions) = newer {
            let next = self.id();
            let g = Generation::quick(next, &self.template, self.protection, versions, &full, full.opened.clone()).await?;
            let mut w = self.watch.lock().await;
            if w.current.id < next && Arc::ptr_eq(&w.warmed, &full) {
                w.current = Arc::new(g);
            }
        }
        Ok(true)
    }
}
