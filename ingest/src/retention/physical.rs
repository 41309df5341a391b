//! Stage 2, "physically deleted": Delta DELETE of the marked rows, a check
//! that none is left, and VACUUM of the files the deletion replaced.
//!
//! Concurrency with the normaliser. Event tables are `WriteSerializable`
//! and the normaliser's commits are blind appends ([`crate::lake`]), so a
//! DELETE that finds appends committed during its rewrite still commits
//! (deltalake's commit loop checks each winning commit and retries at the
//! next version). The normaliser's own next commit then conflicts with the
//! files the DELETE removed; it reloads the table and retries
//! ([`crate::normaliser`]), losing nothing. Any other conflict fails this
//! DELETE, which is retried here from the latest version, up to
//! [`MAX_ATTEMPTS`] times; it is idempotent (a DELETE of rows already gone
//! commits nothing).

use super::markers::{self, APP_DELETED};
use crate::lake::{self, Lake, LakeError};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vru_model::ids::EventId;

/// Attempts of one DELETE against conflicting commits.
pub const MAX_ATTEMPTS: u32 = 20;

/// Event ids per DELETE commit: the predicate is written into the commit's
/// metadata (event ids are hashes), so a first run erasing years of data
/// makes several commits of a few hundred kilobytes, not one of megabytes.
pub const IDS_PER_DELETE: usize = 20_000;

/// Marks a table checkpointed by a run ([`checkpoint`]).
const APP_CHECKPOINT: &str = "vru-retention:checkpoint";

/// Marks a table migrated by [`migrate_legacy`].
const APP_MIGRATED: &str = "vru-retention:stats-safe";

fn derr(name: &str) -> impl Fn(DeltaTableError) -> LakeError + '_ {
    move |source| LakeError::Delta { table: name.to_string(), source: Box::new(source) }
}

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction { source: TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_) }
            | DeltaTableError::VersionAlreadyExists(_)
    )
}

/// What one table's stage 2 did.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Physical {
    pub rows_deleted: u64,
    pub files_rewritten: u64,
    pub commits: u64,
    pub conflicts_retried: u64,
}

/// Deletes the rows of `ids` from `name` and records run `seq` as
/// physically applied there, once: a table already recording `seq` is
/// left alone.
pub async fn delete_marked(lake: &Lake, name: &str, ids: &[EventId], seq: i64) -> Result<Physical, LakeError> {
    let mut out = Physical::default();
    let Some(table) = lake.open(name).await? else { return Ok(out) };
    if markers::seqs(&table, name).await?.1 >= seq {
        return Ok(out);
    }
    let chunks: Vec<&[EventId]> = if ids.is_empty() { vec![&[][..]] } else { ids.chunks(IDS_PER_DELETE).collect() };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        // Only the last chunk's commit says the run is applied.
        let txn = (i == last).then(|| Transaction::new(APP_DELETED, seq));
        delete_chunk(lake, name, chunk, txn, &mut out).await?;
    }
    // A DELETE that matched nothing commits nothing: say so explicitly, or
    // readers would go on hiding the (absent) rows for ever.
    let mut table = lake.open(name).await?.expect("table exists");
    if markers::seqs(&table, name).await?.1 < seq {
        table = markers::commit_txn(&table, name, APP_DELETED, seq).await?;
        out.commits += 1;
    }
    let _ = table;
    Ok(out)
}

async fn delete_chunk(lake: &Lake, name: &str, ids: &[EventId], txn: Option<Transaction>, out: &mut Physical) -> Result<(), LakeError> {
    if ids.is_empty() {
        return Ok(());
    }
    let list: Vec<_> = ids.iter().map(|id| lit(id.to_string())).collect();
    let predicate = col("event_id").in_list(list, false);
    let mut backoff = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        let table = lake.open(name).await?.expect("table exists");
        let mut props = CommitProperties::default();
        if let Some(t) = &txn {
            props = props.with_application_transaction(t.clone());
        }
        let r = table
            .delete()
            .with_predicate(predicate.clone())
            .with_writer_properties(lake::writer_properties())
            .with_commit_properties(props)
            .await;
        match r {
            Ok((_, metrics)) => {
                out.rows_deleted += metrics.num_deleted_rows.unwrap_or(0) as u64;
                out.files_rewritten += metrics.num_removed_files as u64;
                out.commits += u64::from(metrics.num_removed_files > 0);
                return Ok(());
            }
            Err(e) if is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                out.conflicts_retried += 1;
                tracing::warn!(table = name, attempt, error = %e, "retention DELETE conflicted with another commit; retrying from the latest version");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(derr(name)(e)),
        }
    }
    unreachable!("the last attempt returns")
}

/// How many of `ids` are still in the table's files (read through
/// DataFusion, every version the current snapshot references). Stage 2
/// is complete only when this is 0.
pub async fn remaining(lake: &Lake, name: &str, ids: &[EventId]) -> Result<u64, LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(0) };
    if ids.is_empty() {
        return Ok(0);
    }
    let qerr = |source| LakeError::Query { table: name.to_string(), source: Box::new(source) };
    let ctx = SessionContext::new();
    ctx.register_table("t", table.table_provider().await.map_err(qerr)?).map_err(qerr)?;
    let schema = Arc::new(deltalake::arrow::datatypes::Schema::new(vec![deltalake::arrow::datatypes::Field::new(
        "id",
        deltalake::arrow::datatypes::DataType::Utf8,
        false,
    )]));
    let mut batches = Vec::new();
    for chunk in ids.chunks(65_536) {
        let arr = deltalake::arrow::array::StringArray::from_iter_values(chunk.iter().map(|i| i.to_string()));
        batches.push(deltalake::arrow::array::RecordBatch::try_new(schema.clone(), vec![Arc::new(arr)]).expect("one column"));
    }
    ctx.register_table("m", Arc::new(MemTable::try_new(schema, vec![batches]).map_err(qerr)?)).map_err(qerr)?;
    let b = ctx
        .sql("SELECT count(*) FROM t JOIN m ON CAST(t.event_id AS VARCHAR) = m.id")
        .await
        .map_err(qerr)?
        .collect()
        .await
        .map_err(qerr)?;
    let n = b.first().and_then(|b| b.column(0).as_any().downcast_ref::<deltalake::arrow::array::Int64Array>()).map_or(0, |a| a.value(0));
    Ok(n as u64)
}

/// Removes data files no current version references (those replaced by
/// deletions, and orphans a killed writer left) once they are older than
/// `grace`. Returns the number removed. Full mode, because an orphan of a
/// killed commit can hold rows a run has since erased.
pub async fn vacuum(lake: &Lake, name: &str, grace: Duration) -> Result<usize, LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(0) };
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1));
    let (_, metrics) = table
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(grace)
        .with_enforce_retention_duration(false)
        .await
        .map_err(derr(name))?;
    Ok(metrics.files_deleted.len())
}

/// Commits an empty `vru-retention:checkpoint = seq` and writes a
/// checkpoint at it: the checkpoint is then after every DELETE this run
/// made, so [`remove_old_logs`] can remove those commits, which name the
/// events they erased in their predicate (VACUUM does not touch the log).
/// Returns the checkpoint's version.
pub async fn checkpoint(lake: &Lake, name: &str, seq: i64) -> Result<Option<u64>, LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(None) };
    let table = markers::commit_txn(&table, name, APP_CHECKPOINT, seq).await?;
    deltalake::checkpoints::create_checkpoint(&table, None).await.map_err(derr(name))?;
    Ok(table.version())
}

/// Removes the log files before checkpoint `version` that were written
/// before `cutoff`. The caller passes the moment the checkpoint was
/// written, or the vacuum grace before now if that is earlier: a reader
/// that loaded a version within the grace can still reload from the
/// commits after it; an older one reloads from the checkpoint
/// ([`lake::refresh`]). Time travel to a removed version fails, as it
/// would anyway once VACUUM removed its files. Returns files removed.
pub async fn remove_old_logs(lake: &Lake, name: &str, version: u64, cutoff: chrono::DateTime<chrono::Utc>) -> Result<usize, LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(0) };
    deltalake::checkpoints::cleanup_expired_logs_for(version, table.log_store().as_ref(), cutoff.timestamp_millis(), None)
        .await
        .map_err(derr(name))
}

/// True when the table lacks [`lake::table_properties`]: it was created
/// before them, and its log may hold identifiers in file statistics.
pub fn is_legacy(table: &DeltaTable, name: &str) -> bool {
    !lake::missing_properties(table, name).is_empty()
}

/// Brings a table created before [`lake::table_properties`] up to them, so
/// that no byte of its log can hold an identifier: sets the properties,
/// rewrites every file (the new `add` actions carry statistics only on
/// [`lake::STATS_COLUMNS`]), then checkpoints and removes every older log
/// file, whose statistics held record ids and pseudonyms. Time travel to
/// versions before the migration ends with it. Idempotent.
pub async fn migrate_legacy(lake: &Lake, name: &str) -> Result<bool, LakeError> {
    let Some(mut table) = lake.open(name).await? else { return Ok(false) };
    if lake::txn_version(&table, name, APP_MIGRATED).await?.is_some() {
        return Ok(false);
    }
    let missing = lake::missing_properties(&table, name);
    if !missing.is_empty() {
        let props: HashMap<String, String> = missing.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        table = table.set_tbl_properties().with_properties(props).await.map_err(derr(name))?;
    }
    // Rewrite every file from a plan over the table itself: streamed, and
    // files appended meanwhile (blind appends) are neither read nor removed.
    let qerr = |source| LakeError::Query { table: name.to_string(), source: Box::new(source) };
    let ctx = SessionContext::new();
    let plan = ctx.read_table(table.table_provider().await.map_err(qerr)?).map_err(qerr)?.into_unoptimized_plan();
    table = table
        .write(vec![])
        .with_input_plan(plan)
        .with_save_mode(SaveMode::Overwrite)
        .with_writer_properties(lake::writer_properties())
        .with_commit_properties(CommitProperties::default().with_application_transaction(Transaction::new(APP_MIGRATED, 1)))
        .await
        .map_err(derr(name))?;
    let version = table.version().unwrap_or(0);
    deltalake::checkpoints::create_checkpoint(&table, None).await.map_err(derr(name))?;
    let removed = deltalake::checkpoints::cleanup_expired_logs_for(
        version,
        table.log_store().as_ref(),
        chrono::Utc::now().timestamp_millis() + 1,
        None,
    )
    .await
    .map_err(derr(name))?;
    tracing::info!(table = name, version, log_files_removed = removed, "table migrated: no identifier in its log statistics");
    Ok(true)
}
