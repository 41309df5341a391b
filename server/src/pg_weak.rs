//! `pg_catalog` without a reference cycle.
//!
//! datafusion-pg-catalog's `setup_pg_catalog` registers a `pg_catalog`
//! schema in a session's catalog list that holds a strong reference to
//! that same list. The list then owns itself, and nothing registered in
//! the session is ever freed. For the SQL service that is every
//! generation's current state and measures, held in memory: `vru serve`
//! grew by one generation (about 650 MB at 10x) every 5 s while the lake
//! committed every second, to 6 GB within a minute. [`replace`] registers
//! the same schema over a weak reference instead; the sessions sharing the
//! list keep it alive, as they must for anything to query `pg_catalog`.

use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use std::sync::{Arc, Weak};
use vru_queries::datafusion::arrow::datatypes::SchemaRef;
use vru_queries::datafusion::catalog::CatalogProviderList;
use vru_queries::datafusion::datasource::TableType;
use vru_queries::datafusion::error::{DataFusionError, Result};
use vru_queries::datafusion::prelude::SessionContext;

/// A session's catalog list, held weakly: once every session sharing it
/// is gone, it reads as empty.
#[derive(Clone, Debug)]
pub struct WeakCatalogList(Weak<dyn CatalogProviderList>);

#[async_trait]
impl CatalogInfo for WeakCatalogList {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        match self.0.upgrade() {
            Some(list) => CatalogInfo::catalog_names(&list).await,
            None => Ok(Vec::new()),
        }
    }

    async fn schema_names(&self, catalog_name: &str) -> Result<Option<Vec<String>>> {
        match self.0.upgrade() {
            Some(list) => CatalogInfo::schema_names(&list, catalog_name).await,
            None => Ok(None),
        }
    }

    async fn table_names(&self, catalog_name: &str, schema_name: &str) -> Result<Option<Vec<String>>> {
        match self.0.upgrade() {
            Some(list) => CatalogInfo::table_names(&list, catalog_name, schema_name).await,
            None => Ok(None),
        }
    }

    async fn table_schema(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> Result<Option<SchemaRef>> {
        match self.0.upgrade() {
            Some(list) => CatalogInfo::table_schema(&list, catalog_name, schema_name, table_name).await,
            None => Ok(None),
        }
    }

    async fn table_type(&self, catalog_name: &str, schema_name: &str, table_name: &str) -> Result<Option<TableType>> {
        match self.0.upgrade() {
            Some(list) => CatalogInfo::table_type(&list, catalog_name, schema_name, table_name).await,
            None => Ok(None),
        }
    }
}

/// Registers `pg_catalog` in `catalog` of `ctx` over a weak reference to
/// the session's catalog list, replacing the one `setup_pg_catalog` left
/// (whose other registrations, functions and type names, stay).
pub fn replace(ctx: &SessionContext, catalog: &str) -> Result<()> {
    let list = Arc::downgrade(ctx.state().catalog_list());
    let schema =
        PgCatalogSchemaProvider::try_new(WeakCatalogList(list), Arc::new(PgCatalogStaticTables::try_new()?), EmptyContextProvider)?;
    ctx.catalog(catalog)
        .ok_or_else(|| DataFusionError::Configuration(format!("catalog {catalog} not found")))?
        .register_schema("pg_catalog", Arc::new(schema))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
    use vru_queries::datafusion::datasource::MemTable;

    /// A session with `pg_catalog` is freed when it is dropped, and its
    /// `pg_catalog` still lists its tables while it lives.
    /// A session with `pg_catalog` (as the crate sets it up) and one table,
    /// and a weak reference to that table.
    fn session_holding_a_table() -> (SessionContext, Weak<MemTable>) {
        let ctx = SessionContext::new();
        let schema = Arc::new(vru_queries::datafusion::arrow::datatypes::Schema::empty());
        let table = Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap());
        let held = Arc::downgrade(&table);
        ctx.register_table("held", table).unwrap();
        setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider).unwrap();
        (ctx, held)
    }

    #[tokio::test]
    async fn a_session_with_pg_catalog_is_freed_when_dropped() {
        let (ctx, held) = session_holding_a_table();
        replace(&ctx, "datafusion").unwrap();
        let rows = ctx.sql("SELECT relname FROM pg_catalog.pg_class WHERE relname = 'held'").await.unwrap().collect().await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1, "pg_catalog sees the session's tables");
        drop(ctx);
        assert!(held.upgrade().is_none(), "the session's table outlived it: a reference cycle through pg_catalog");
    }

    /// The cycle this module breaks: with `setup_pg_catalog` alone, a
    /// dropped session's tables stay alive. (If a later version of the
    /// crate stops holding the list strongly, this fails and the module
    /// can go.)
    #[tokio::test]
    async fn setup_pg_catalog_alone_keeps_the_session_alive() {
        let (ctx, held) = session_holding_a_table();
        drop(ctx);
        assert!(held.upgrade().is_some());
    }
}
