//! Which of a batch's event ids a table already holds, without keeping
//! every id of the lake in memory.
//!
//! Why: the normaliser must never write an event twice, and it used to
//! load every event id of every table at start-up, so its memory and
//! start-up time grew with all of history. Instead, every event file
//! carries a Parquet bloom filter on `event_id` ([`ID_BLOOM_FPP`]), and a
//! batch is checked against the files before its commit: a row group is
//! read only when its filter says it may hold one of the batch's ids (or
//! it has no filter: a file written before filters were), and then only
//! its `event_id` column, and the answer is exact.
//!
//! The filters live in the files, never in the Delta log: a file a
//! retention deletion rewrites takes its filter with it.
//!
//! Memory is bounded by [`IdLookup::new`]'s budget for cached filters;
//! beyond it, filters are read again from storage. What still grows with
//! history is the work of one lookup: one filter probe per batch id per
//! row group (measured in BENCHMARKS.md).

use crate::{Lake, LakeError, strings};
use deltalake::DeltaTable;
use deltalake::arrow::array::Array as _;
use deltalake::logstore::ObjectStoreRef;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use deltalake::parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use deltalake::parquet::bloom_filter::Sbbf;
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::ObjectStoreExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use vru_model::ids::EventId;

/// The column every event table keys on.
pub const ID_COLUMN: &str = "event_id";

/// The false-positive rate of each file's `event_id` filter. A batch of
/// `B` ids makes a row group a false candidate with probability about
/// `B * fpp`: 5% for the default batch of 50,000. It costs about 5 bytes
/// per row in each file (`event_id` itself takes about 17 compressed).
pub const ID_BLOOM_FPP: f64 = 1e-6;

/// One file's footer and per-row-group filters.
struct FileFilters {
    metadata: ArrowReaderMetadata,
    column: usize,
    filters: Vec<Option<Sbbf>>,
    bytes: usize,
}

/// What one lookup did, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LookupStats {
    pub files: usize,
    pub row_groups: usize,
    /// Row groups whose `event_id` column was read.
    pub row_groups_read: usize,
    /// Files whose footer and filters were read from storage (not cached).
    pub files_loaded: usize,
}

/// Checks batches of ids against tables' files, caching footers and
/// filters up to one byte budget for all tables.
pub struct IdLookup {
    cache: HashMap<String, Arc<FileFilters>>,
    order: VecDeque<String>,
    bytes: usize,
    budget: usize,
}

impl IdLookup {
    /// `budget`: bytes of footers and filters kept between lookups (64 MiB
    /// holds the filters of about 13 million rows in large files; many small
    /// files spend more of it on footers).
    pub fn new(budget: usize) -> Self {
        IdLookup { cache: HashMap::new(), order: VecDeque::new(), bytes: 0, budget }
    }

    /// The ids of `ids` that `table` (at its loaded version) holds.
    pub async fn present(&mut self, table: &DeltaTable, name: &str, ids: &[EventId]) -> Result<(HashSet<EventId>, LookupStats), LakeError> {
        let mut stats = LookupStats::default();
        let mut found = HashSet::new();
        if ids.is_empty() {
            return Ok((found, stats));
        }
        let snapshot = table.snapshot().map_err(Lake::delta_err(name))?;
        let files: Vec<(deltalake::Path, u64)> =
            snapshot.log_data().into_iter().map(|f| (f.object_store_path(), f.size().max(0) as u64)).collect();
        let key = |p: &deltalake::Path| format!("{name}/{p}");
        self.forget_all_but(name, files.iter().map(|(p, _)| key(p)).collect());
        let store = table.object_store();
        let wanted: HashMap<String, EventId> = ids.iter().map(|id| (id.to_string(), *id)).collect();
        for (path, size) in files {
            stats.files += 1;
            let file = match self.cache.get(&key(&path)) {
                Some(f) => f.clone(),
                None => {
                    stats.files_loaded += 1;
                    let f = Arc::new(load(&store, &path, size, name).await?);
                    self.remember(key(&path), f.clone());
                    f
                }
            };
            stats.row_groups += file.filters.len();
            let groups: Vec<usize> = file
                .filters
                .iter()
                .enumerate()
                .filter(|(_, f)| f.as_ref().is_none_or(|f| wanted.keys().any(|h| f.check(h.as_str()))))
                .map(|(i, _)| i)
                .collect();
            if groups.is_empty() {
                continue;
            }
            stats.row_groups_read += groups.len();
            let reader = FileReader { store: store.clone(), path: path.clone(), size };
            let mask = ProjectionMask::leaves(file.metadata.parquet_schema(), [file.column]);
            let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, file.metadata.clone())
                .with_projection(mask)
                .with_row_groups(groups)
                .build()
                .map_err(parquet_err(name))?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(parquet_err(name))?;
                let col = strings(&batch, 0, name)?;
                found.extend((0..col.len()).filter_map(|i| wanted.get(col.value(i))));
            }
        }
        Ok((found, stats))
    }

    fn remember(&mut self, path: String, file: Arc<FileFilters>) {
        self.bytes += file.bytes;
        self.cache.insert(path.clone(), file);
        self.order.push_back(path);
        while self.bytes > self.budget {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(f) = self.cache.remove(&oldest) {
                self.bytes -= f.bytes;
            }
        }
    }

    /// Drops the files of table `name` no longer in it (rewritten by a
    /// deletion).
    fn forget_all_but(&mut self, name: &str, live: HashSet<String>) {
        let cache = &mut self.cache;
        let mut freed = 0;
        let prefix = format!("{name}/");
        self.order.retain(|p| {
            let keep = !p.starts_with(&prefix) || live.contains(p);
            if !keep && let Some(f) = cache.remove(p) {
                freed += f.bytes;
            }
            keep
        });
        self.bytes -= freed;
    }
}

fn parquet_err(name: &str) -> impl Fn(ParquetError) -> LakeError + '_ {
    move |source| LakeError::Parquet { table: name.to_string(), source: Box::new(source) }
}

async fn load(store: &ObjectStoreRef, path: &deltalake::Path, size: u64, name: &str) -> Result<FileFilters, LakeError> {
    let mut reader = FileReader { store: store.clone(), path: path.clone(), size };
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await.map_err(parquet_err(name))?;
    let column = metadata
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [ID_COLUMN])
        .ok_or_else(|| LakeError::Invalid { table: name.into(), reason: format!("file {path} has no {ID_COLUMN} column") })?;
    let groups = metadata.metadata().num_row_groups();
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone());
    let mut filters = Vec::with_capacity(groups);
    for rg in 0..groups {
        filters.push(builder.get_row_group_column_bloom_filter(rg, column).await.map_err(parquet_err(name))?);
    }
    let bytes = metadata.metadata().memory_size() + filters.iter().flatten().map(|f| f.num_blocks() * 32).sum::<usize>();
    Ok(FileFilters { metadata, column, filters, bytes })
}

/// Reads one file of the table's store (local or object storage) for the
/// Parquet reader: ranged reads, and the footer from the known size.
struct FileReader {
    store: ObjectStoreRef,
    path: deltalake::Path,
    size: u64,
}

impl AsyncFileReader for FileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, deltalake::parquet::errors::Result<bytes::Bytes>> {
        self.store.get_range(&self.path, range).map_err(|e| ParquetError::External(Box::new(e))).boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, deltalake::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new().with_arrow_reader_options(options).load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
