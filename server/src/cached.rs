//! Measure views computed once per lake generation. A measure is a pure
//! function of the lake snapshot the session was built on, and it is what
//! every analyst's dashboard asks for: without this, twenty clients asking
//! for `measure_h1` would compute it twenty times at once. The first query
//! computes it (under its own memory pool and time limit; if it fails, the
//! next one tries again) while the others wait for the result.

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::OnceCell;
use vru_queries::datafusion::arrow::datatypes::SchemaRef;
use vru_queries::datafusion::catalog::{Session, TableProvider};
use vru_queries::datafusion::datasource::{MemTable, TableType, ViewTable};
use vru_queries::datafusion::error::{DataFusionError, Result};
use vru_queries::datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use vru_queries::datafusion::physical_plan::{ExecutionPlan, collect};
use vru_queries::datafusion::prelude::SessionContext;

#[derive(Debug)]
pub struct CachedView {
    plan: LogicalPlan,
    schema: SchemaRef,
    table: OnceCell<Arc<MemTable>>,
}

impl CachedView {
    /// Replaces the view `name` in `ctx` with a cached one; a name that is
    /// not a view is left alone.
    pub async fn replace(ctx: &SessionContext, name: &str) -> Result<()> {
        let provider = ctx.table_provider(name).await?;
        let Some(view) = provider.downcast_ref::<ViewTable>() else { return Ok(()) };
        let cached = CachedView { plan: view.logical_plan().clone(), schema: view.schema(), table: OnceCell::new() };
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(cached))?;
        Ok(())
    }

    async fn table(&self, state: &dyn Session) -> Result<Arc<MemTable>> {
        self.table
            .get_or_try_init(|| async {
                let physical = state.create_physical_plan(&self.plan).await?;
                let batches = collect(physical, state.task_ctx()).await?;
                Ok::<_, DataFusionError>(Arc::new(MemTable::try_new(self.schema.clone(), vec![batches])?))
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl TableProvider for CachedView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Still a view to catalog browsers (`\dv`).
    fn table_type(&self) -> TableType {
        TableType::View
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
    async fn computes_once_and_answers_like_the_view() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW v AS SELECT value % 3 AS k, count(*) AS n FROM range(30) GROUP BY value % 3").await.unwrap();
        let sql = "SELECT k, n FROM v WHERE k > 0 ORDER BY k";
        let before = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        CachedView::replace(&ctx, "v").await.unwrap();
        let provider = ctx.table_provider("v").await.unwrap();
        assert!(provider.downcast_ref::<CachedView>().is_some());
        assert_eq!(provider.table_type(), TableType::View);
        for _ in 0..2 {
            assert_eq!(ctx.sql(sql).await.unwrap().collect().await.unwrap(), before);
        }
        assert!(provider.downcast_ref::<CachedView>().unwrap().table.initialized());
    }
}
