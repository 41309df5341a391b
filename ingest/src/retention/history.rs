//! What past runs erased, for reproducing a report: a report whose data a
//! later run erased cannot be reproduced, and must say which run.

use crate::lake::{self, Lake, LakeError, strings};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use vru_model::retention::schema::RUNS;

/// A run that erased events of a table that a reader at some moment could
/// have seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub run_id: String,
    pub as_of: String,
    pub table: String,
    pub events: i64,
}

/// Runs started after `since` that erased events of `tables` ingested
/// before it: a report made at `since` may have counted them.
pub async fn erased_since(lake: &Lake, tables: &[String], since: DateTime<Utc>) -> Result<Vec<Erasure>, LakeError> {
    let Some(table) = lake.open(RUNS).await? else { return Ok(Vec::new()) };
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let micros = since.timestamp_micros();
    let names = tables.iter().map(|t| format!("'{}'", t.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT run_id, CAST(as_of AS VARCHAR), table_name, CAST(sum(events_erased) AS VARCHAR) FROM t \
         WHERE outcome = 'applied' AND events_erased > 0 AND table_name IN ({names}) \
         AND CAST(started_at AS BIGINT) > {micros} AND CAST(earliest_erased_ingested_at AS BIGINT) <= {micros} \
         GROUP BY run_id, as_of, table_name ORDER BY run_id, table_name"
    );
    let mut stream = lake::query(&table, RUNS, &sql).await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LakeError::Query { table: RUNS.into(), source: Box::new(source) })?;
        let cols: Vec<_> = (0..4).map(|i| strings(&batch, i, RUNS)).collect::<Result<_, _>>()?;
        for i in 0..batch.num_rows() {
            out.push(Erasure {
                run_id: cols[0].value(i).to_string(),
                as_of: cols[1].value(i).to_string(),
                table: cols[2].value(i).to_string(),
                events: cols[3].value(i).parse().unwrap_or(0),
            });
        }
    }
    Ok(out)
}
