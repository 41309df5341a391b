//! A batch session's private disk (`SessionOptions::scratch`): the
//! current state it materialises, written once as Parquet and scanned by
//! every measure, and the directory its queries spill to once they hold
//! their share of memory.
//!
//! The files are lake rows (pseudonymised, but about children and
//! victims), so they must not outlive the session: each session writes
//! under its own `vru-scratch-<pid>-*` directory (mode 0700, from
//! `tempfile`), removed when the session drops it, and every new session
//! removes the directories of processes that no longer exist, so a
//! SIGKILLed report leaves nothing behind past the next run.

use crate::QueryError;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::{ExecutionPlan, execute_stream_partitioned};
use futures::StreamExt;
use std::path::Path;
use std::sync::Arc;

const PREFIX: &str = "vru-scratch-";

/// A new private directory under `root`, after sweeping what dead
/// processes left there.
pub(crate) fn private_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(root)?;
    sweep(root);
    tempfile::Builder::new().prefix(&format!("{PREFIX}{}-", std::process::id())).tempdir_in(root)
}

/// Removes `vru-scratch-<pid>-*` directories whose process is gone. Only
/// where `/proc` says which processes live (Linux); elsewhere nothing is
/// removed, rather than a live session's files.
fn sweep(root: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_err() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                tracing::info!(dir = %entry.path().display(), "removed the scratch files of a process that died without removing them")
            }
            Err(e) => tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove a dead process's scratch files"),
        }
    }
}

/// Spilled sort runs merged at once. DataFusion's default (no bound) lets
/// one partition's merge take a buffer for every run it has, as much of
/// the shared pool as there is: on the 100x city one merge held 353 MB of
/// a 512 MiB pool and the other partitions' sorts failed. Eight runs per
/// pass merge in more passes under a bounded share (measured: the 100x
/// report now completes under 768 MiB with a 1.28 GB peak, where it
/// needed 1 GiB and peaked at 1.54 GB; the 10x report is unchanged).
const SPILL_MERGE_FAN_IN: usize = 8;

/// The runtime of a session with scratch: `memory` bytes shared fairly
/// among the operators that can spill, spilling under `dir`.
pub(crate) fn runtime(dir: &Path, memory: usize) -> Result<Arc<RuntimeEnv>, QueryError> {
    let spill = DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::Directories(vec![dir.join("spill")]))
        .with_max_spill_merge_fan_in(SPILL_MERGE_FAN_IN);
    std::fs::create_dir_all(dir.join("spill")).map_err(|e| QueryError::scratch(dir, e))?;
    // Tracked, so that running out names the operators holding the pool:
    // what an operator needs to judge whether a larger limit would do.
    let pool = TrackConsumersPool::new(FairSpillPool::new(memory), std::num::NonZeroUsize::new(5).expect("non-zero"));
    Ok(RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool)).with_disk_manager_builder(spill).build_arc()?)
}

/// The runtime of a session without scratch: its queries may hold up to
/// `cap` bytes ([`machine_cap`]) and never spill (there is nowhere private
/// to spill to: a spill file in the system's temporary directory would be
/// lake rows outliving the session after a SIGKILL). Without a cap, one
/// analyst's `max(named_struct(...)) GROUP BY` over the 10x police log
/// grew `vru sql` past 24 GB until the kernel killed it, with whatever
/// else ran on the machine; with one it fails with an error naming the
/// settings, and the machine carries on.
pub(crate) fn in_memory_runtime(cap: usize) -> Result<Arc<RuntimeEnv>, QueryError> {
    let pool = TrackConsumersPool::new(GreedyMemoryPool::new(cap), std::num::NonZeroUsize::new(5).expect("non-zero"));
    Ok(RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
        .build_arc()?)
}

/// Half of this machine's memory, or of the container's limit when that is
/// lower (cgroup v2 `memory.max`): what a session without scratch may hold
/// in its queries. Half, so that a runaway query fails while the machine
/// still has room for the process's own base and for its neighbours.
/// `None` where neither can be read (not Linux): no cap, as before.
pub fn machine_cap() -> Option<usize> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_total(&m));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    let bytes = match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (t, c) => t.or(c)?,
    };
    usize::try_from(bytes / 2).ok()
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Writes what `plan` returns as Parquet files under `dir` (one per partition, so scans
/// stay parallel) and returns a table reading them with `schema`.
///
/// Written here rather than by DataFusion's Parquet sink: the sink's
/// buffers come out of the session's memory pool and cannot spill, so
/// under a tight pool the window's sort (which may take the whole pool
/// before it spills) left the sink nothing and the run failed. These files
/// live for one session: small row groups, fast compression.
pub(crate) async fn write_and_open(
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    schema: SchemaRef,
    dir: &Path,
) -> Result<Arc<dyn TableProvider>, QueryError> {
    let io = |e: std::io::Error| QueryError::scratch(dir, e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let props = WriterProperties::builder().set_compression(Compression::LZ4_RAW).set_max_row_group_row_count(Some(64 * 1024)).build();
    let streams = execute_stream_partitioned(plan, task)?;
    let writes = streams.into_iter().enumerate().map(|(i, mut stream)| {
        let (path, props) = (dir.join(format!("part-{i}.parquet")), props.clone());
        async move {
            let file = std::fs::File::create(&path).map_err(io)?;
            let mut writer = ArrowWriter::try_new(file, stream.schema(), Some(props)).map_err(|e| parquet_error(dir, e))?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?).map_err(|e| parquet_error(dir, e))?;
            }
            writer.close().map_err(|e| parquet_error(dir, e))?;
            Ok::<_, QueryError>(())
        }
    });
    futures::future::try_join_all(writes).await?;
    let url = format!("{}/", dir.display());
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(&url)?).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The writer's I/O failures (a full disk) are the scratch directory's;
/// anything else it reports is ours.
fn parquet_error(dir: &Path, e: datafusion::parquet::errors::ParquetError) -> QueryError {
    use datafusion::parquet::errors::ParquetError;
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => QueryError::scratch(dir, *io),
            Err(other) => QueryError::DataFusion(ParquetError::External(other).into()),
        },
        e => QueryError::DataFusion(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LakeSource, SessionOptions, build_session};
    use vru_model::classification::Definition;
    use vru_model::error::ErrorKind;

    #[test]
    fn the_machine_cap_is_half_of_mem_total() {
        assert_eq!(mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), Some(24_576_000 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        if cfg!(target_os = "linux") {
            let cap = machine_cap().expect("Linux has /proc/meminfo");
            assert!(cap >= 64 << 20, "{cap}");
        }
    }

    /// A session without scratch under a cap: a query that needs more
    /// fails, names the settings, is the operator's to fix, and the same
    /// session still answers the next query (what `vru sql` relies on).
    #[tokio::test]
    async fn a_session_without_scratch_fails_a_runaway_query_and_goes_on() {
        let mut o = SessionOptions::new(LakeSource::Fixture, Definition::builtin("local").unwrap(), vec![]);
        o.memory_cap = Some(2 << 20);
        let s = build_session(&o).await.unwrap();
        let runaway = "SELECT v % 100000 AS k, max(named_struct('a', v, 'b', repeat('x', 40))) FROM range(100000) t(v) GROUP BY 1";
        let err = match s.ctx.sql(runaway).await.unwrap().collect().await {
            Ok(b) => panic!("{} rows under a 2 MiB cap", b.iter().map(|b| b.num_rows()).sum::<usize>()),
            Err(e) => QueryError::from(e),
        };
        assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
        assert!(err.to_string().contains("measures.scratch_dir"), "{err}");
        let ok = s.ctx.sql("SELECT count(*) FROM range(1000)").await.unwrap().collect().await.unwrap();
        assert_eq!(ok[0].num_rows(), 1);
        // Unbounded, the same query completes.
        o.memory_cap = None;
        let s = build_session(&o).await.unwrap();
        let rows: usize = s.ctx.sql(runaway).await.unwrap().collect().await.unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 100_000);
    }
}
