//! The lake: one Delta table per event family under one root directory.
//! Each commit of new events carries, as Delta `txn` actions, the last Kafka
//! offset of every partition it covers, so the lake itself records how far
//! it has read; Kafka's committed offsets are only a hint for monitoring.
//!
//! The one crate that knows the lake's layout (`<root>/<table>/_delta_log`,
//! the root a directory or an `s3://` prefix, see [`location`]):
//! the normaliser, retention, the query session and the SQL service all open
//! tables through it.

use deltalake::arrow::array::{Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{StructType, Transaction};
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use vru_model::ids::EventId;

mod error;
mod ids;
pub mod location;
/// Callers name the Delta types this crate's functions return.
pub use deltalake;
pub use error::LakeError;
pub use ids::{ID_BLOOM_FPP, ID_COLUMN, IdLookup, LookupStats};
pub use location::Location;
use object_store::ObjectStore as _;

#[derive(Debug, Clone)]
pub struct Lake {
    location: Location,
    /// Built once per lake and shared by its clones: an S3 client keeps its
    /// connections, and the SQL service lists every table's log each poll.
    store: Arc<OnceLock<Arc<dyn object_store::ObjectStore>>>,
}

impl Lake {
    /// A lake in a local directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Lake { location: Location::Local(root.into()), store: Arc::default() }
    }

    /// A lake at an address: a directory, `file://...` or `s3://bucket/prefix`
    /// (see [`location`]).
    pub fn at(address: &str) -> Result<Self, LakeError> {
        Ok(Lake { location: Location::parse(address)?, store: Arc::default() })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// An object store rooted at the lake's root (see [`Location::store`]),
    /// built on first use.
    pub fn store(&self) -> Result<Arc<dyn object_store::ObjectStore>, LakeError> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let built = self.location.store()?;
        Ok(self.store.get_or_init(|| built).clone())
    }

    /// The lake's directory, when it is on this machine's file system.
    pub fn local_root(&self) -> Option<&Path> {
        self.location.local()
    }

    pub fn table_url(&self, name: &str) -> Result<url::Url, LakeError> {
        self.location.table_url(name)
    }

    /// Whether the table has a log (committed at least once).
    pub async fn exists(&self, name: &str) -> bool {
        self.log_versions(name, None).await.is_some_and(|v| !v.is_empty())
    }

    /// The commit versions in a table's `_delta_log` after `after`, or
    /// `None` when the table or the storage is not there. On object
    /// storage the listing starts after the known version's file, so a
    /// poll costs one request however many commits the table has had.
    async fn log_versions(&self, name: &str, after: Option<u64>) -> Option<Vec<u64>> {
        let version = |n: &str| n.strip_suffix(".json").and_then(|v| v.parse::<u64>().ok());
        match &self.location {
            Location::Local(root) => std::fs::read_dir(root.join(name).join("_delta_log"))
                .ok()
                .map(|entries| entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().to_str().and_then(version)).collect()),
            Location::Remote(_) => {
                let store = self.store().ok()?;
                let prefix = object_store::path::Path::from(format!("{name}/_delta_log"));
                let listed: Vec<_> = match after {
                    Some(v) => {
                        let offset = object_store::path::Path::from(format!("{name}/_delta_log/{v:020}.json"));
                        store.list_with_offset(Some(&prefix), &offset).collect().await
                    }
                    None => store.list(Some(&prefix)).collect().await,
                };
                let listed: Vec<_> = listed.into_iter().collect::<Result<_, _>>().ok()?;
                Some(listed.iter().filter_map(|o| o.location.filename().and_then(version)).collect())
            }
        }
    }

    /// The latest committed version of a table from its log listing alone
    /// (no file read): how the SQL service notices commits. `None` when
    /// the table does not exist.
    pub async fn latest_version_listed(&self, name: &str) -> Option<u64> {
        self.latest_version_after(name, None).await
    }

    /// [`Lake::latest_version_listed`] for a caller that already knows
    /// version `known` exists: only later commits are listed.
    pub async fn latest_version_after(&self, name: &str, known: Option<u64>) -> Option<u64> {
        let later = self.log_versions(name, known).await?.into_iter().max();
        later.max(known)
    }

    fn delta_err(name: &str) -> impl FnOnce(DeltaTableError) -> LakeError + '_ {
        move |source| LakeError::Delta { table: name.to_string(), source: Box::new(source) }
    }

    /// Opens the table, creating it with `schema` when it does not exist,
    /// and adding any nullable column of `schema` an older table lacks (the
    /// one way our tables evolve: `content_hash` came this way). An event
    /// table is created with [`table_properties`].
    pub async fn open_or_create(&self, name: &str, schema: SchemaRef) -> Result<DeltaTable, LakeError> {
        if let Some(table) = self.open(name).await? {
            return evolve(table, name, &schema).await;
        }
        // Not probed first: the kernel logs an error for a log-less directory.
        let url = self.table_url(name)?;
        let table = DeltaTableBuilder::from_url(url).map_err(Self::delta_err(name))?.build().map_err(Self::delta_err(name))?;
        let delta_schema: StructType =
            schema.as_ref().try_into_kernel().map_err(|e| LakeError::Invalid { table: name.into(), reason: e.to_string() })?;
        table
            .create()
            .with_table_name(name)
            .with_columns(delta_schema.fields().cloned())
            .with_configuration(table_properties(name))
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(Self::delta_err(name))
    }

    /// Opens an existing table at its latest version, or `None`.
    pub async fn open(&self, name: &str) -> Result<Option<DeltaTable>, LakeError> {
        self.open_at(name, None).await
    }

    /// Opens an existing table at a given version (time travel), or `None`
    /// when the table does not exist.
    pub async fn open_at(&self, name: &str, version: Option<u64>) -> Result<Option<DeltaTable>, LakeError> {
        if !self.exists(name).await {
            return Ok(None);
        }
        let url = self.table_url(name)?;
        let t = match version {
            Some(v) => deltalake::open_table_with_version(url, v).await,
            None => deltalake::open_table(url).await,
        };
        t.map(Some).map_err(Self::delta_err(name))
    }
}

async fn evolve(table: DeltaTable, name: &str, schema: &SchemaRef) -> Result<DeltaTable, LakeError> {
    let have: HashSet<String> = match table.snapshot() {
        Ok(s) => s.schema().fields().map(|f| f.name().clone()).collect(),
        Err(_) => return Ok(table),
    };
    let missing: Vec<_> =
        schema.fields().iter().filter(|f| f.is_nullable() && !have.contains(f.name())).map(|f| f.as_ref().clone()).collect();
    if missing.is_empty() {
        return Ok(table);
    }
    let delta: StructType =
        (&Schema::new(missing)).try_into_kernel().map_err(|e| LakeError::Invalid { table: name.into(), reason: e.to_string() })?;
    tracing::info!(table = name, columns = ?delta.fields().map(|f| f.name().clone()).collect::<Vec<_>>(), "adding new columns to an older table");
    table.add_columns().with_fields(delta.fields().cloned().collect::<Vec<_>>()).await.map_err(Lake::delta_err(name))
}

/// Columns whose minimum and maximum go into the Delta log for file
/// skipping. Never an identifier: the log outlives the files it describes
/// (a file rewritten by a retention deletion is still described in older
/// commits), so a record id or pseudonym there could never be erased.
pub const STATS_COLUMNS: &str = "occurred_at,recorded_at,ingested_at,source,kind,partner,record_version";

/// The deletion markers' statistics columns: none names an event.
pub const MARKER_STATS_COLUMNS: &str = "run_seq,table_name,partner,due_date,marked_at";

/// Properties of every event table:
/// - statistics only on [`STATS_COLUMNS`];
/// - `WriteSerializable`: the normaliser's commits are blind appends, so a
///   retention deletion committed meanwhile does not conflict with them
///   (under the default `Serializable`, every append made during a
///   deletion's rewrite would fail it, and a busy normaliser would starve
///   deletion for ever).
///
/// Reference and retention tables hold no personal data and keep the
/// defaults.
pub fn table_properties(name: &str) -> Vec<(&'static str, Option<&'static str>)> {
    if name == vru_model::retention::schema::MARKERS {
        // Deletion markers name erased events: statistics on `event_id`
        // would copy them into the log, which outlives the pruned files.
        return vec![("delta.dataSkippingStatsColumns", Some(MARKER_STATS_COLUMNS))];
    }
    if vru_model::tables::Table::from_name(name).is_none() {
        return Vec::new();
    }
    vec![("delta.isolationLevel", Some("WriteSerializable")), ("delta.dataSkippingStatsColumns", Some(STATS_COLUMNS))]
}

/// The properties of [`table_properties`] this table does not have yet (a
/// table created before they were introduced).
pub fn missing_properties(table: &DeltaTable, name: &str) -> Vec<(&'static str, &'static str)> {
    let have = table.snapshot().map(|s| s.metadata().configuration().clone()).unwrap_or_default();
    table_properties(name)
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .filter(|(k, v)| have.get(*k).map(String::as_str) != Some(*v))
        .collect()
}

/// zstd at level 1, and a bloom filter on `event_id` ([`IdLookup`] reads it
/// to find re-sent events without holding every id in memory). Level 1, not
/// zstd's default 3: compression was 9% of the normaliser's commit thread
/// (the sizes and times of both are in `BENCHMARKS.md`).
pub fn writer_properties() -> WriterProperties {
    writer_properties_builder().build()
}

fn writer_properties_builder() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .set_column_bloom_filter_fpp(ColumnPath::from(ID_COLUMN), ID_BLOOM_FPP)
}

/// [`writer_properties`] for a file of `rows` rows (one row group), its
/// `event_id` filter sized for them. Unsized, Parquet sizes the filter
/// for a whole row group's default million rows (about 3.6 MB at
/// [`ID_BLOOM_FPP`]), zeroes it and folds it down after: about 4% of the
/// normaliser's CPU samples with 50,000-row commits.
pub fn writer_properties_for(rows: usize) -> WriterProperties {
    writer_properties_builder().set_column_bloom_filter_max_ndv(ColumnPath::from(ID_COLUMN), rows.max(1) as u64).build()
}

/// Appends one batch and records `txns` in the same commit. On error the
/// table handle passed in is unchanged.
///
/// The commit says it is a blind append (it read nothing from the table),
/// which is true and is what lets it and a concurrent retention deletion
/// both land (see [`table_properties`]).
pub async fn append(table: &DeltaTable, name: &str, batch: RecordBatch, txns: Vec<Transaction>) -> Result<DeltaTable, LakeError> {
    let props = writer_properties_for(batch.num_rows());
    table
        .clone()
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_writer_properties(props)
        .with_target_file_size(None)
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transactions(txns)
                .with_metadata([("isBlindAppend".to_string(), serde_json::Value::Bool(true))]),
        )
        .await
        .map_err(Lake::delta_err(name))
}

/// The table handle at the latest version: after a failed commit, another
/// writer (a retention deletion, a schema change) may have moved the table
/// on, and retrying from the old snapshot would fail the same way for ever.
///
/// Falls back to a full load from the latest checkpoint when the commits
/// after the held version are gone (a retention run removes the log files
/// that named erased events, see `retention::physical::remove_old_logs`).
pub async fn refresh(table: &mut DeltaTable, name: &str) -> Result<(), LakeError> {
    match table.update_state().await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::debug!(table = name, error = %e, "incremental reload failed; loading the table afresh");
            *table = deltalake::open_table(table.table_url().clone()).await.map_err(Lake::delta_err(name))?;
            Ok(())
        }
    }
}

/// Records offsets without data, for a table that has seen no events for a
/// long stretch of its topic (otherwise a restart would re-read it all).
pub async fn commit_offsets_only(table: &DeltaTable, name: &str, txns: Vec<Transaction>) -> Result<DeltaTable, LakeError> {
    let snapshot = table.snapshot().map_err(Lake::delta_err(name))?;
    let op = DeltaOperation::StreamingUpdate { output_mode: OutputMode::Append, query_id: "vru-normaliser".into(), epoch_id: 0 };
    let done = CommitBuilder::from(CommitProperties::default().with_application_transactions(txns))
        .with_actions(vec![])
        .build(Some(snapshot as &dyn TableReference), table.log_store(), op)
        .await
        .map_err(Lake::delta_err(name))?;
    let mut t = table.clone();
    t.state = Some(done.snapshot());
    Ok(t)
}

/// The last offset recorded for an application id, if any.
pub async fn txn_version(table: &DeltaTable, name: &str, app_id: &str) -> Result<Option<i64>, LakeError> {
    let snapshot = table.snapshot().map_err(Lake::delta_err(name))?;
    snapshot.transaction_version(table.log_store().as_ref(), app_id).await.map_err(Lake::delta_err(name))
}

/// Every event id in the table, held in memory: for tests and tools that
/// compare the lake with the extracts. The normaliser does not load them
/// (it asks [`IdLookup`] about each batch), so its memory does not grow
/// with the lake.
pub async fn event_ids(table: &DeltaTable, name: &str) -> Result<HashSet<EventId>, LakeError> {
    let qerr = |source| LakeError::Query { table: name.to_string(), source: Box::new(source) };
    let provider = table.table_provider().await.map_err(qerr)?;
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).map_err(qerr)?;
    let mut stream = ctx.sql("SELECT event_id FROM t").await.map_err(qerr)?.execute_stream().await.map_err(qerr)?;
    let mut ids = HashSet::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(qerr)?;
        let col = cast(batch.column(0), &DataType::Utf8).map_err(|e| LakeError::Invalid { table: name.into(), reason: e.to_string() })?;
        let col = col.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
        for i in 0..col.len() {
            let id = EventId::parse(col.value(i))
                .ok_or_else(|| LakeError::Invalid { table: name.into(), reason: format!("bad event_id {}", col.value(i)) })?;
            ids.insert(id);
        }
    }
    Ok(ids)
}

pub async fn query(
    table: &DeltaTable,
    name: &str,
    sql: &str,
) -> Result<deltalake::datafusion::physical_plan::SendableRecordBatchStream, LakeError> {
    let qerr = |source| LakeError::Query { table: name.to_string(), source: Box::new(source) };
    let provider = table.table_provider().await.map_err(qerr)?;
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).map_err(qerr)?;
    ctx.sql(sql).await.map_err(qerr)?.execute_stream().await.map_err(qerr)
}

pub fn strings(batch: &RecordBatch, i: usize, name: &str) -> Result<StringArray, LakeError> {
    let col = cast(batch.column(i), &DataType::Utf8).map_err(|e| LakeError::Invalid { table: name.into(), reason: e.to_string() })?;
    Ok(col.as_any().downcast_ref::<StringArray>().expect("cast to Utf8").clone())
}

/// The SHA-256 of every extract the lake holds an accepted receipt for:
/// the record of what was ingested, which partners cannot write.
pub async fn accepted_extracts(lake: &Lake) -> Result<HashSet<String>, LakeError> {
    let name = vru_model::tables::Table::ExtractReceipts.name();
    let Some(table) = lake.open(name).await? else { return Ok(HashSet::new()) };
    let mut stream = query(&table, name, "SELECT record_id FROM t WHERE status IN ('accepted', 'accepted_with_rejections')").await?;
    let mut out = HashSet::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LakeError::Query { table: name.into(), source: Box::new(source) })?;
        let ids = strings(&batch, 0, name)?;
        out.extend((0..ids.len()).map(|i| ids.value(i).to_string()));
    }
    Ok(out)
}

/// Calls `f` with the event id and content hash of every event `partner`
/// sent into `table`, streaming: memory does not grow with the table.
pub async fn for_each_event(lake: &Lake, name: &str, partner: &str, f: &mut dyn FnMut(&EventId, Option<&str>)) -> Result<(), LakeError> {
    let Some(table) = lake.open(name).await? else { return Ok(()) };
    let has_hash = table.snapshot().is_ok_and(|s| s.schema().fields().any(|f| f.name() == "content_hash"));
    let hash = if has_hash { "content_hash" } else { "CAST(NULL AS VARCHAR)" };
    let sql = format!("SELECT event_id, {hash} FROM t WHERE partner = '{}'", partner.replace('\'', "''"));
    let mut stream = query(&table, name, &sql).await?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LakeError::Query { table: name.into(), source: Box::new(source) })?;
        let (ids, hashes) = (strings(&batch, 0, name)?, strings(&batch, 1, name)?);
        for i in 0..ids.len() {
            if let Some(id) = EventId::parse(ids.value(i)) {
                f(&id, (!hashes.is_null(i)).then(|| hashes.value(i)));
            }
        }
    }
    Ok(())
}
