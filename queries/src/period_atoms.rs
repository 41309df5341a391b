//! The measures over periods of our choosing rather than the published
//! ones: what disclosure control needs to know the counts of the pieces
//! overlapping periods cut time into (see [`crate::disclosure::time`]).
//!
//! They run in a session of their own that shares every table and view of
//! the original (the materialised current state included, so the lake is
//! not read again) but not its catalog: `report_periods` there holds the
//! pieces, and only the views that read it, directly or through another,
//! are planned again from their SQL. Nothing computed here is published.

use crate::QueryError;
use crate::disclosure::Grid;
use crate::disclosure::time::{Span, atom_label};
use crate::measures::{MEASURES, VIEWS};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList, MemorySchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const PERIODS: &str = "report_periods";

/// Runs `views` (measure views) with `spans` as their periods, labelled
/// by [`atom_label`], type `atom`, with no previous period.
pub async fn measures_over(
    ctx: &SessionContext,
    spans: &[Span],
    views: &[&'static str],
) -> Result<HashMap<&'static str, Grid>, QueryError> {
    let own = session_over(ctx, spans).await?;
    let mut out = HashMap::new();
    for view in views {
        let batches = own.sql(&format!("SELECT * FROM {view}")).await?.collect().await?;
        out.insert(*view, crate::report::grid_of(&batches)?);
    }
    Ok(out)
}

/// A session like `ctx` whose `report_periods` are `spans`.
pub async fn session_over(ctx: &SessionContext, spans: &[Span]) -> Result<SessionContext, QueryError> {
    let options = ctx.state().config().options().catalog.clone();
    let (catalog, schema) = (options.default_catalog, options.default_schema);
    let old = ctx
        .catalog(&catalog)
        .and_then(|c| c.schema(&schema))
        .ok_or_else(|| QueryError::Invalid(format!("the session has no schema {catalog}.{schema}")))?;
    let state = SessionStateBuilder::new_from_existing(ctx.state()).with_catalog_list(Arc::new(MemoryCatalogProviderList::new())).build();
    let own = SessionContext::new_with_state(state);
    let cat = MemoryCatalogProvider::new();
    cat.register_schema(&schema, Arc::new(MemorySchemaProvider::new()))?;
    own.register_catalog(&catalog, Arc::new(cat));

    // What reads the periods, in dependency order: planned again here.
    let mut replan: HashSet<&str> = HashSet::from([PERIODS]);
    for (name, sql) in VIEWS {
        if mentions(sql, &replan) {
            replan.insert(name);
        }
    }
    replan.extend(MEASURES.iter().map(|m| m.view));
    for name in old.table_names() {
        if replan.contains(name.as_str()) {
            continue;
        }
        if let Some(t) = old.table(&name).await? {
            own.register_table(name.as_str(), t)?;
        }
    }
    let periods = old.table(PERIODS).await?.ok_or_else(|| QueryError::Invalid("the session has no report_periods".into()))?;
    own.register_table(PERIODS, periods_table(periods.schema(), spans)?)?;
    for (name, sql) in VIEWS.iter().filter(|(n, _)| *n != PERIODS && replan.contains(n)) {
        crate::session::create_view(&own, name, sql, &format!("sql/views/{name}.sql")).await?;
    }
    for m in MEASURES {
        crate::session::create_view(&own, m.view, m.sql, &format!("sql/measures/{}.sql", m.id.to_lowercase())).await?;
    }
    Ok(own)
}

/// Whether `sql` names any of `names` (as a whole identifier).
fn mentions(sql: &str, names: &HashSet<&str>) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| names.contains(w))
}

/// `report_periods` with the spans as rows, in the original's column types.
fn periods_table(schema: datafusion::arrow::datatypes::SchemaRef, spans: &[Span]) -> Result<Arc<MemTable>, QueryError> {
    let text = |f: &dyn Fn(&Span) -> Option<String>| -> ArrayRef { Arc::new(spans.iter().map(f).collect::<StringArray>()) };
    let mut columns = Vec::new();
    for field in schema.fields() {
        let strings = match field.name().as_str() {
            "period" => text(&|s| Some(atom_label(s))),
            "period_type" => text(&|_| Some("atom".into())),
            "start_ts" => text(&|s| Some(s.0.clone())),
            "end_ts" => text(&|s| Some(s.1.clone())),
            // The population year (for rates, which atoms have no use for).
            "mid_year" => text(&|s| s.0.get(..4).map(str::to_string)),
            _ => text(&|_| None),
        };
        columns.push(cast(&strings, field.data_type())?);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_replanned_only_when_it_names_a_replanned_one() {
        let names = HashSet::from(["report_periods", "period_coverage"]);
        assert!(mentions("SELECT * FROM report_periods p", &names));
        assert!(mentions("JOIN period_coverage c ON", &names));
        assert!(!mentions("SELECT * FROM report_periods_2", &names));
        assert!(!mentions("SELECT crimes.period FROM crimes", &names));
    }
}
