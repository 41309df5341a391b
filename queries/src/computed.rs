//! Views computed once, the first time a query reads them, then kept for
//! the session's life.
//!
//! DataFusion inlines a view at every reference, so a measure that reads
//! `police_offences` eight times computes its latest-version window eight
//! times, over the whole log each time. A [`ComputedView`] in its place
//! computes it once, when a query first scans it (others scanning it
//! meanwhile wait for that result; if it fails, the next one tries again),
//! and only if some query reads it: `vru sql` on one measure computes the
//! current-state tables that measure reads and no others. Used for the
//! current state and `crimes` ([`crate::session::Materialise`]) and, in
//! the SQL service, for the measures of each lake generation.

use crate::QueryError;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Column;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNodeRecursion};
use datafusion::datasource::{MemTable, TableType, ViewTable, provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableScan};
use datafusion::physical_plan::{ExecutionPlan, collect_partitioned};
use datafusion::prelude::SessionContext;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct ComputedView {
    name: String,
    plan: LogicalPlan,
    schema: SchemaRef,
    kind: TableType,
    /// The session's scratch directory: the result is written there as
    /// Parquet instead of held in memory. Kept alive as long as the table
    /// is, since a context can outlive the session that built it.
    disk: Option<Arc<tempfile::TempDir>>,
    table: OnceCell<Arc<dyn TableProvider>>,
}

impl ComputedView {
    /// Replaces the view `name` in `ctx` with one computed on first use,
    /// shown to catalog browsers as `kind`; a name that is not a view is
    /// left alone (`None`).
    pub async fn replace(
        ctx: &SessionContext,
        name: &str,
        kind: TableType,
        disk: Option<Arc<tempfile::TempDir>>,
    ) -> Result<Option<Arc<ComputedView>>> {
        let provider = ctx.table_provider(name).await?;
        let Some(view) = provider.downcast_ref::<ViewTable>() else { return Ok(None) };
        let computed = Arc::new(ComputedView {
            name: name.to_string(),
            plan: view.logical_plan().clone(),
            schema: view.schema(),
            kind,
            disk,
            table: OnceCell::new(),
        });
        ctx.deregister_table(name)?;
        ctx.register_table(name, computed.clone())?;
        Ok(Some(computed))
    }

    /// The computed table, computing it now if no query has. Keeps the
    /// view's partitions, so later scans stay parallel.
    pub async fn table(&self, state: &dyn Session) -> Result<Arc<dyn TableProvider>> {
        self.table
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let physical = state.create_physical_plan(&self.plan).await?;
                let table: Arc<dyn TableProvider> = match &self.disk {
                    None => Arc::new(MemTable::try_new(self.schema.clone(), collect_partitioned(physical, state.task_ctx()).await?)?),
                    Some(dir) => crate::scratch::write_and_open(physical, state.task_ctx(), self.schema.clone(), &dir.path().join(&self.name))
                        .await
                        .map_err(|e| match e {
                            QueryError::DataFusion(e) => e,
                            other => DataFusionError::External(Box::new(other)),
                        })?,
                };
                tracing::debug!(table = %self.name, on_disk = self.disk.is_some(), ms = started.elapsed().as_millis() as u64, "view computed");
                Ok::<_, DataFusionError>(table)
            })
            .await
            .cloned()
    }

    pub fn is_computed(&self) -> bool {
        self.table.initialized()
    }
}

/// `plan` with the computed views it reads at most once read as the views
/// they were, inlined: computing such a view would hold every column of
/// every row where the query may need a few (`SELECT count(*) FROM
/// police_offences` took 4.7 s and 604 MiB computed, 2.4 s and 216 MiB as
/// a view, on the 10x city). Views read twice or more, counting the reads
/// of views inside other views, stay computed, and the views *they* read
/// once are inlined into them: `youth_sv_charges`, read twice by C1, reads
/// the current state of police offences once, so it is computed from that
/// view's few columns and charged rows, not from all of it computed first.
/// For a session that runs one query (`vru sql`); a session that runs many
/// (`vru measures`) gains from computing even a view each query reads once.
pub fn inline_single_reads(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut reads = HashMap::new();
    count_reads(&plan, &mut reads)?;
    rewrite_reads(plan, &reads, &mut HashMap::new())
}

/// [`inline_single_reads`] with the read counts of the whole query, and the
/// computed views already rewritten, so each is still computed once.
fn rewrite_reads(
    plan: LogicalPlan,
    reads: &HashMap<String, usize>,
    rewritten: &mut HashMap<String, Arc<ComputedView>>,
) -> Result<LogicalPlan> {
    plan.transform_down_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else { return Ok(Transformed::no(node)) };
        let Some(view) = computed_view(scan) else { return Ok(Transformed::no(node)) };
        if view.is_computed() {
            return Ok(Transformed::no(node));
        }
        if scan.filters.is_empty() && scan.fetch.is_none() && reads.get(&view.name).copied().unwrap_or(0) <= 1 {
            // What LogicalPlanBuilder::scan does with a view.
            let fields = |i: &usize| Expr::Column(Column::from(view.plan.schema().qualified_field(*i)));
            let builder = match &scan.projection {
                Some(p) => LogicalPlanBuilder::new(view.plan.clone()).project(p.iter().map(fields))?,
                None => LogicalPlanBuilder::new(view.plan.clone()),
            };
            return Ok(Transformed::yes(builder.alias(scan.table_name.clone())?.build()?));
        }
        // Read twice or more: computed, from a plan with its own single
        // reads inlined. A copy, as the session's view keeps its plan.
        let copy = match rewritten.get(&view.name) {
            Some(copy) => copy.clone(),
            None => {
                let plan = rewrite_reads(view.plan.clone(), reads, rewritten)?;
                let copy = if plan == view.plan {
                    view.clone()
                } else {
                    Arc::new(ComputedView {
                        name: view.name.clone(),
                        plan,
                        schema: view.schema.clone(),
                        kind: view.kind,
                        disk: view.disk.clone(),
                        table: OnceCell::new(),
                    })
                };
                rewritten.insert(view.name.clone(), copy.clone());
                copy
            }
        };
        if Arc::ptr_eq(&copy, &view) {
            return Ok(Transformed::no(node));
        }
        let mut scan = scan.clone();
        scan.source = provider_as_source(copy);
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })
    .data()
}

/// How many times each computed view is read: directly by `plan`, and by
/// the views it reads (each counted once, as it is evaluated once whether
/// computed or inlined in its one place).
fn count_reads(plan: &LogicalPlan, reads: &mut HashMap<String, usize>) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Some(view) = computed_view(scan)
        {
            let n = reads.entry(view.name.clone()).or_default();
            *n += 1;
            if *n == 1 {
                count_reads(&view.plan, reads)?;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// The computed view a scan reads, if it reads one.
fn computed_view(scan: &TableScan) -> Option<Arc<ComputedView>> {
    let provider = source_as_provider(&scan.source).ok()?;
    let any: Arc<dyn std::any::Any + Send + Sync> = provider;
    any.downcast::<ComputedView>().ok()
}

#[async_trait]
impl TableProvider for ComputedView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.kind
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table(state).await?.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Unsupported; filters.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn computes_once_on_first_use_and_answers_like_the_view() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW v AS SELECT value % 3 AS k, count(*) AS n FROM range(30) GROUP BY value % 3").await.unwrap();
        ctx.sql("CREATE VIEW unread AS SELECT 1 AS x").await.unwrap();
        let sql = "SELECT a.k, a.n, b.n AS m FROM v a JOIN v b ON a.k = b.k WHERE a.k > 0 ORDER BY a.k";
        let before = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        for (name, kind) in [("v", TableType::View), ("unread", TableType::Base)] {
            ComputedView::replace(&ctx, name, kind, None).await.unwrap().expect("a view");
        }
        assert!(ComputedView::replace(&ctx, "v", TableType::View, None).await.unwrap().is_none(), "not a view any more");
        assert_eq!(computed(&ctx, "v").await, (TableType::View, false));
        for _ in 0..2 {
            assert_eq!(ctx.sql(sql).await.unwrap().collect().await.unwrap(), before);
        }
        assert_eq!(computed(&ctx, "v").await, (TableType::View, true));
        assert_eq!(computed(&ctx, "unread").await, (TableType::Base, false), "a view no query read is never computed");
    }

    async fn computed(ctx: &SessionContext, name: &str) -> (TableType, bool) {
        let provider = ctx.table_provider(name).await.unwrap();
        (provider.table_type(), provider.downcast_ref::<ComputedView>().unwrap().is_computed())
    }

    /// A view read once is inlined (not computed: a count reads no
    /// column); read twice, directly or through another computed view, it
    /// is computed once. Results are the view's either way.
    #[tokio::test]
    async fn a_query_computes_only_the_views_it_reads_twice() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW base AS SELECT value AS k, value * 2 AS d FROM range(100)").await.unwrap();
        ctx.sql("CREATE VIEW once AS SELECT value AS k FROM range(10)").await.unwrap();
        ComputedView::replace(&ctx, "base", TableType::Base, None).await.unwrap().unwrap();
        ComputedView::replace(&ctx, "once", TableType::Base, None).await.unwrap().unwrap();
        ctx.sql("CREATE VIEW top AS SELECT k FROM base WHERE k < 5").await.unwrap();
        ComputedView::replace(&ctx, "top", TableType::Base, None).await.unwrap().unwrap();
        let run = async |sql: &str| {
            let (state, plan) = ctx.sql(sql).await.unwrap().into_parts();
            let plan = inline_single_reads(plan).unwrap();
            let batches = datafusion::prelude::DataFrame::new(state, plan).collect().await.unwrap();
            datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string()
        };
        let count = run("SELECT count(*) AS n FROM once").await;
        assert!(count.contains("| 10 |"), "{count}");
        assert!(!computed(&ctx, "once").await.1, "read once: inlined");
        // top reads base once and is read once: neither is computed.
        let one = run("SELECT sum(k) AS s FROM top").await;
        assert!(one.contains("| 10 |"), "{one}");
        assert_eq!((computed(&ctx, "top").await.1, computed(&ctx, "base").await.1), (false, false));
        // base read directly and through top: computed, top is not.
        let two = run("SELECT (SELECT count(*) FROM top) AS t, count(*) AS b FROM base").await;
        assert!(two.contains("| 5 | 100 |"), "{two}");
        assert_eq!((computed(&ctx, "top").await.1, computed(&ctx, "base").await.1), (false, true));
        // once read twice: computed.
        let self_join = run("SELECT count(*) AS n FROM once a JOIN once b ON a.k = b.k").await;
        assert!(self_join.contains("| 10 |"), "{self_join}");
        assert!(computed(&ctx, "once").await.1);
    }

    /// A view read twice is computed from its plan with the views it reads
    /// once inlined: `base`, read once inside `pair`, is never computed
    /// whole. The session's own `pair` keeps its plan and stays uncomputed
    /// (the query computed a copy), so a later query is planned afresh.
    #[tokio::test]
    async fn a_computed_view_reads_its_single_reads_inlined() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW base AS SELECT value AS k, value * 2 AS d FROM range(100)").await.unwrap();
        ComputedView::replace(&ctx, "base", TableType::Base, None).await.unwrap().unwrap();
        ctx.sql("CREATE VIEW pair AS SELECT k FROM base WHERE k % 2 = 0").await.unwrap();
        ComputedView::replace(&ctx, "pair", TableType::Base, None).await.unwrap().unwrap();
        let sql = "SELECT count(*) AS n, sum(a.k) AS s FROM pair a JOIN pair b ON a.k = b.k";
        for _ in 0..2 {
            let (state, plan) = ctx.sql(sql).await.unwrap().into_parts();
            let plan = inline_single_reads(plan).unwrap();
            let batches = datafusion::prelude::DataFrame::new(state, plan).collect().await.unwrap();
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
            assert!(text.contains("| 50 | 2450 |"), "{text}");
            assert_eq!((computed(&ctx, "pair").await.1, computed(&ctx, "base").await.1), (false, false));
        }
        // Without the rewrite (a session of many queries), both are kept.
        let plain = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(plain[0].num_rows(), 1);
        assert_eq!((computed(&ctx, "pair").await.1, computed(&ctx, "base").await.1), (true, true));
    }

    #[tokio::test]
    async fn on_disk_it_writes_parquet_in_the_scratch_directory() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW v AS SELECT value AS k FROM range(1000)").await.unwrap();
        let dir = Arc::new(tempfile::tempdir().unwrap());
        ComputedView::replace(&ctx, "v", TableType::Base, Some(dir.clone())).await.unwrap().unwrap();
        let sum = ctx.sql("SELECT sum(k) FROM v").await.unwrap().collect().await.unwrap();
        let sum = sum[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0);
        assert_eq!(sum, 499_500);
        let files = std::fs::read_dir(dir.path().join("v")).unwrap().count();
        assert!(files >= 1, "{files} Parquet files");
    }
}
