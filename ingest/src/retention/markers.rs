//! Stage 1, "non-searchable at once": deletion markers in the lake, and
//! the bookkeeping in each event table's own log that tells every reader
//! which markers to apply.
//!
//! A run with sequence number `S` appends its markers to
//! `retention_markers`, then commits to each event table it touches an
//! empty commit carrying the Delta `txn` action `vru-retention:marked = S`.
//! That commit moves the table's version, so the SQL service (which
//! rebuilds its session when a version moves) and every new session see
//! it. When stage 2 has rewritten the table without the marked rows, the
//! DELETE commit carries `vru-retention:deleted = S`. A reader of a table
//! at any version hides the markers of runs after `deleted` and up to
//! `marked` (`vru_queries::session`); so time travel to an old version
//! shows exactly what was visible then, and a table with nothing pending
//! is read without any join.

use crate::lake::{self, Lake, LakeError, strings};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, Int64Array};
use deltalake::datafusion::prelude::{col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::protocol::{DeltaOperation, OutputMode};
use futures::StreamExt;
use std::collections::HashSet;
use vru_model::ids::EventId;
use vru_model::retention::schema::{MARKERS, Marker, markers_batch, markers_schema};

pub use vru_model::retention::schema::{APP_DELETED, APP_MARKED, APP_RUN};

/// `(marked, deleted)` run sequence numbers recorded in a table (0: none).
pub async fn seqs(table: &DeltaTable, name: &str) -> Result<(i64, i64), LakeError> {
    let marked = lake::txn_version(table, name, APP_MARKED).await?.unwrap_or(0);
    let deleted = lake::txn_version(table, name, APP_DELETED).await?.unwrap_or(0);
    Ok((marked, deleted))
}

/// Commits nothing but `app = seq` to a table: how a table learns that a
/// run's markers apply (or, when a DELETE found nothing left to rewrite,
/// that they are physically applied). Concurrent normaliser appends do
/// not conflict with it (different application ids, no files touched).
pub async fn commit_txn(table: &DeltaTable, name: &str, app: &str, seq: i64) -> Result<DeltaTable, LakeError> {
    let err = |source| LakeError::Delta { table: name.to_string(), source: Box::new(source) };
    let snapshot = table.snapshot().map_err(err)?;
    let op = DeltaOperation::StreamingUpdate { output_mode: OutputMode::Append, query_id: "vru-retention".into(), epoch_id: seq };
    let done = CommitBuilder::from(CommitProperties::default().with_application_transaction(Transaction::new(app, seq)))
        .with_actions(vec![])
        .build(Some(snapshot as &dyn TableReference), table.log_store(), op)
        .await
        .map_err(err)?;
    let mut t = table.clone();
    t.state = Some(done.snapshot());
    Ok(t)
}

/// Appends run `seq`'s markers, once: if the markers table already records
/// the run (a rerun after a crash), nothing is written.
pub async fn append(lake: &Lake, seq: i64, markers: &[Marker], at: chrono::DateTime<chrono::Utc>) -> Result<(), LakeError> {
    let table = lake.open_or_create(MARKERS, markers_schema()).await?;
    if lake::txn_version(&table, MARKERS, APP_RUN).await?.is_some_and(|v| v >= seq) {
        return Ok(());
    }
    let batch = markers_batch(seq, markers, at).map_err(|e| LakeError::Invalid { table: MARKERS.into(), reason: e.to_string() })?;
    lake::append(&table, MARKERS, batch, vec![Transaction::new(APP_RUN, seq)]).await?;
    Ok(())
}

/// Marks `table` with run `seq` (stage 1's last step for it), once.
pub async fn mark(lake: &Lake, name: &str, seq: i64) -> Result<(), LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(()) };
    if seqs(&table, name).await?.0 >= seq {
        return Ok(());
    }
    commit_txn(&table, name, APP_MARKED, seq).await?;
    Ok(())
}

/// The highest run sequence number in the markers table (0: none).
pub async fn max_seq(lake: &Lake) -> Result<i64, LakeError> {
    let Some(table) = lake.open(MARKERS).await? else { return Ok(0) };
    Ok(lake::txn_version(&table, MARKERS, APP_RUN).await?.unwrap_or(0))
}

/// Event ids marked for `table` by runs in `(after, upto]` (`upto` None:
/// every later run).
pub async fn ids(lake: &Lake, name: &str, after: i64, upto: Option<i64>) -> Result<Vec<EventId>, LakeError> {
    let Some(table) = lake.open(MARKERS).await? else { return Ok(Vec::new()) };
    let upto = upto.map_or(String::new(), |u| format!(" AND run_seq <= {u}"));
    let sql = format!("SELECT event_id FROM t WHERE table_name = '{}' AND run_seq > {after}{upto}", name.replace('\'', "''"));
    let mut stream = lake::query(&table, MARKERS, &sql).await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LakeError::Query { table: MARKERS.into(), source: Box::new(source) })?;
        let col = strings(&batch, 0, MARKERS)?;
        out.extend((0..col.len()).filter_map(|i| EventId::parse(col.value(i))));
    }
    Ok(out)
}

/// Every event ever erased from `table`: the normaliser treats them as
/// already received, so a re-sent copy of an erased event is dropped, not
/// written back.
pub async fn erased(lake: &Lake, name: &str) -> Result<HashSet<EventId>, LakeError> {
    Ok(ids(lake, name, 0, None).await?.into_iter().collect())
}

/// Removes the markers no one needs any more: those of runs a table
/// records as physically applied (readers skip them), once older than
/// `keep` (the longest a message may stay in Kafka, the policy's
/// `kafka_max`: until then the normaliser needs them to drop a replayed
/// copy of an erased event). The predicate names only tables, run numbers
/// and a time, never an event. Returns the markers removed.
pub async fn prune(lake: &Lake, now: chrono::DateTime<chrono::Utc>, keep: chrono::Duration) -> Result<u64, LakeError> {
    let Some(markers) = lake.open(MARKERS).await? else { return Ok(0) };
    let mut applied = Vec::new();
    for t in vru_model::tables::Table::ALL {
        if let Some(table) = lake.open(t.name()).await? {
            let (_, deleted) = seqs(&table, t.name()).await?;
            if deleted > 0 {
                applied.push(col("table_name").eq(lit(t.name())).and(col("run_seq").lt_eq(lit(deleted))));
            }
        }
    }
    let Some(any) = applied.into_iter().reduce(|a, b| a.or(b)) else { return Ok(0) };
    let cutoff = lit(ScalarValue::TimestampMicrosecond(Some((now - keep).timestamp_micros()), Some("UTC".into())));
    let (_, metrics) = markers
        .delete()
        .with_predicate(any.and(col("marked_at").lt(cutoff)))
        .await
        .map_err(|source| LakeError::Delta { table: MARKERS.into(), source: Box::new(source) })?;
    Ok(metrics.num_deleted_rows.unwrap_or(0) as u64)
}

/// Rows per run in the markers table, for reports and tests.
pub async fn count_by_run(lake: &Lake) -> Result<Vec<(i64, i64)>, LakeError> {
    let Some(table) = lake.open(MARKERS).await? else { return Ok(Vec::new()) };
    let mut stream = lake::query(&table, MARKERS, "SELECT run_seq, count(*) FROM t GROUP BY run_seq ORDER BY run_seq").await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LakeError::Query { table: MARKERS.into(), source: Box::new(source) })?;
        let (s, n) = (batch.column(0).as_any().downcast_ref::<Int64Array>(), batch.column(1).as_any().downcast_ref::<Int64Array>());
        if let (Some(s), Some(n)) = (s, n) {
            out.extend((0..s.len()).map(|i| (s.value(i), n.value(i))));
        }
    }
    Ok(out)
}
