//! Memory: one pool for the whole service, a share of it per query, and
//! accounting for what DataFusion does not account by itself.
//!
//! Every query's operators reserve from a [`QueryPool`], which holds them
//! to the per-query limit and takes the same bytes from the service's
//! [`GreedyMemoryPool`], so the total is bounded whatever the number of
//! connections (before, each connection had a pool of its own and the real
//! bound was `max_connections x limit`). DataFusion does not reserve for
//! the values scalar functions build (`repeat('x', 600000000)`) nor for
//! what window operators buffer; [`account`] gives such arrays a
//! reservation that lives exactly as long as their buffers (a custom
//! allocation owner frees it when the last buffer is dropped), and
//! [`HoldExec`] reserves the input a window operator buffers.

use futures::StreamExt;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vru_queries::datafusion::arrow::array::ArrayData;
use vru_queries::datafusion::arrow::array::{Array, ArrayRef, make_array};
use vru_queries::datafusion::arrow::buffer::Buffer;
use vru_queries::datafusion::arrow::datatypes::SchemaRef;
use vru_queries::datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use vru_queries::datafusion::common::tree_node::TreeNodeRecursion;
use vru_queries::datafusion::error::{DataFusionError, Result};
use vru_queries::datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use vru_queries::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use vru_queries::datafusion::physical_expr::PhysicalExpr;
use vru_queries::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use vru_queries::datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// Words DataFusion's resource errors carry, to tell the two limits apart.
pub const QUERY_LIMIT: &str = "the per-query memory limit";
pub const SERVICE_LIMIT: &str = "the service's memory limit";

/// The service's pool, shared by every query.
pub fn service_pool(bytes: usize) -> Arc<dyn MemoryPool> {
    Arc::new(TrackConsumersPool::new(GreedyMemoryPool::new(bytes), NonZeroUsize::new(3).expect("non-zero")))
}

/// One query's share of the service's pool.
#[derive(Debug)]
pub struct QueryPool {
    service: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl QueryPool {
    pub fn new(service: Arc<dyn MemoryPool>, limit: usize) -> Arc<QueryPool> {
        Arc::new(QueryPool { service, limit, used: AtomicUsize::new(0), peak: AtomicUsize::new(0) })
    }

    /// The most this query held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn note_peak(&self, used: usize) {
        self.peak.fetch_max(used, Ordering::Relaxed);
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query pool: {} of {} bytes", self.used.load(Ordering::Relaxed), self.limit)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.service.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.service.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        let now = self.used.fetch_add(additional, Ordering::Relaxed) + additional;
        self.note_peak(now);
        self.service.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.service.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| u.checked_add(additional).filter(|n| *n <= self.limit))
            .map_err(|used| {
                DataFusionError::ResourcesExhausted(format!(
                    "{QUERY_LIMIT}: {} wanted {additional} more bytes with {used} of {} in use",
                    reservation.consumer().name(),
                    self.limit
                ))
            })?;
        if let Err(e) = self.service.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!("{SERVICE_LIMIT}: other queries hold the memory. {e}")));
        }
        self.note_peak(before + additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// Reserves `bytes` in `pool` only to see that they would fit, for a
/// function about to build a value of that size.
pub fn would_fit(pool: &Arc<dyn MemoryPool>, what: &str, bytes: usize) -> Result<()> {
    let r = MemoryConsumer::new(what).register(pool);
    r.try_grow(bytes)
}

/// malloc arenas for the whole process. glibc gives each thread that
/// contends for the heap an arena of its own (up to 8 per core) and keeps
/// what a query freed in it, and raises its mmap threshold (to 32 MiB)
/// after large frees, so later large buffers come from arenas that do not
/// give them back. With a thread per query, six concurrent queries under
/// a 256 MiB service pool peaked at +630 MB RSS and held +200 MB after;
/// with two arenas and buffers of 1 MiB and more always mapped (and
/// unmapped when freed), +320 MB and +30 MB. The pool bounds what queries
/// hold; this keeps what they freed from piling up beside it.
pub const MALLOC_ARENAS: i32 = 2;
pub const MALLOC_MMAP_THRESHOLD: i32 = 1 << 20;

/// Applies [`MALLOC_ARENAS`] and [`MALLOC_MMAP_THRESHOLD`] (glibc only;
/// elsewhere nothing).
pub fn limit_malloc_arenas() {
    tune_malloc(MALLOC_MMAP_THRESHOLD);
}

/// At most [`MALLOC_ARENAS`] malloc arenas, and blocks of `mmap_threshold`
/// bytes and more mapped (so unmapped when freed), for any process whose
/// RSS should follow what its DataFusion pool holds. An operator's own
/// `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` wins.
/// glibc only; elsewhere nothing.
pub fn tune_malloc(mmap_threshold: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let unset = |env: &str, tunable: &str| std::env::var_os(env).is_none() && !tunables.contains(tunable);
        // SAFETY: mallopt only changes allocator parameters, which may be
        // set at any time; they apply to allocations made afterwards.
        unsafe {
            if unset("MALLOC_ARENA_MAX", "glibc.malloc.arena_max") {
                libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
            }
            if unset("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold);
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = mmap_threshold;
}

/// Keeps a reservation alive for as long as any buffer holding it lives.
struct Owner {
    _buffer: Buffer,
    _reservation: Arc<MemoryReservation>,
}

fn rewrap(data: &ArrayData, reservation: &Arc<MemoryReservation>) -> ArrayData {
    let buffers = data
        .buffers()
        .iter()
        .map(|b| {
            let Some(ptr) = NonNull::new(b.as_ptr() as *mut u8) else { return b.clone() };
            let owner = Arc::new(AssertUnwindSafe(Owner { _buffer: b.clone(), _reservation: reservation.clone() }));
            // SAFETY: `ptr` points at `b.len()` initialised bytes of `b`,
            // and the owner holds `b` (so those bytes) until the new buffer
            // is dropped.
            unsafe { Buffer::from_custom_allocation(ptr, b.len(), owner) }
        })
        .collect();
    let children = data.child_data().iter().map(|c| rewrap(c, reservation)).collect();
    let builder = data.clone().into_builder().buffers(buffers).child_data(children);
    // SAFETY: the same layout, lengths and contents as `data`, which is
    // valid; only the owners of the buffers changed.
    unsafe { builder.build_unchecked() }
}

/// Reserves an array's memory in `pool` for the array's lifetime; fails
/// (SQLSTATE 53200 once explained) when the pool cannot hold it.
pub fn account(array: ArrayRef, pool: &Arc<dyn MemoryPool>, what: &str) -> Result<ArrayRef> {
    let bytes = array.get_array_memory_size();
    let reservation = MemoryConsumer::new(what).register(pool);
    reservation.try_grow(bytes)?;
    Ok(make_array(rewrap(&array.to_data(), &Arc::new(reservation))))
}

/// What a pass-through operator does to its child's batches, with the
/// query's pool: the one part in which [`HoldExec`], [`AccountExec`] and
/// [`crate::fanout::FanoutCheckExec`] differ. The plan node around it is
/// [`PoolExec`].
pub trait BatchCheck: fmt::Debug + Send + Sync + 'static {
    /// The operator's name in plans and EXPLAIN.
    const NAME: &'static str;
    /// Wraps the stream of `input` (the child plan).
    fn wrap(input: &dyn ExecutionPlan, stream: SendableRecordBatchStream, pool: Arc<dyn MemoryPool>) -> SendableRecordBatchStream;
}

/// Its child's batches, passed through the [`BatchCheck`] `K`, with the
/// child's properties and order.
#[derive(Debug)]
pub struct PoolExec<K> {
    input: Arc<dyn ExecutionPlan>,
    pool: Arc<dyn MemoryPool>,
    check: PhantomData<K>,
}

impl<K: BatchCheck> PoolExec<K> {
    pub fn new(input: Arc<dyn ExecutionPlan>, pool: Arc<dyn MemoryPool>) -> PoolExec<K> {
        PoolExec { input, pool, check: PhantomData }
    }
}

impl<K: BatchCheck> DisplayAs for PoolExec<K> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", K::NAME)
    }
}

impl<K: BatchCheck> ExecutionPlan for PoolExec<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PoolExec::<K>::new(children.swap_remove(0), self.pool.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        Ok(K::wrap(self.input.as_ref(), stream, self.pool.clone()))
    }
}

/// Passes its child's batches through, reserving each one's size until the
/// stream ends: for the input of operators that buffer it without a
/// reservation of their own (window functions).
pub type HoldExec = PoolExec<Hold>;

#[derive(Debug)]
pub struct Hold;

impl BatchCheck for Hold {
    const NAME: &'static str = "HoldExec";

    fn wrap(input: &dyn ExecutionPlan, stream: SendableRecordBatchStream, pool: Arc<dyn MemoryPool>) -> SendableRecordBatchStream {
        let schema: SchemaRef = input.schema();
        let reservation = MemoryConsumer::new("window input").register(&pool);
        let held = stream.map(move |batch| {
            let batch = batch?;
            reservation.try_grow(batch.get_array_memory_size())?;
            Ok(batch)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, held))
    }
}

/// Reserves the columns of its child's batches for as long as they live:
/// for operators whose output can be far larger than their input
/// (`UNNEST`, nested-loop joins). The reservation comes after the batch is
/// built, so one oversized batch still exists for a moment; the query then
/// fails rather than going on.
pub type AccountExec = PoolExec<Account>;

#[derive(Debug)]
pub struct Account;

impl BatchCheck for Account {
    const NAME: &'static str = "AccountExec";

    fn wrap(input: &dyn ExecutionPlan, stream: SendableRecordBatchStream, pool: Arc<dyn MemoryPool>) -> SendableRecordBatchStream {
        let schema: SchemaRef = input.schema();
        let what = format!("{} output", input.name());
        let accounted = stream.map(move |batch| {
            let batch = batch?;
            let columns = batch.columns().iter().map(|c| account(c.clone(), &pool, &what)).collect::<Result<Vec<_>>>()?;
            // The row count too: a join's output may have no columns.
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(batch.schema(), columns, &options)?)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, accounted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vru_queries::datafusion::arrow::array::StringArray;

    #[test]
    fn queries_share_one_service_pool() {
        let service = service_pool(100 << 20);
        let a: Arc<dyn MemoryPool> = QueryPool::new(service.clone(), 60 << 20);
        let b: Arc<dyn MemoryPool> = QueryPool::new(service.clone(), 60 << 20);
        let ra = MemoryConsumer::new("a").register(&a);
        ra.try_grow(50 << 20).unwrap();
        let e = ra.try_grow(20 << 20).unwrap_err().to_string();
        assert!(e.contains(QUERY_LIMIT), "{e}");
        let rb = MemoryConsumer::new("b").register(&b);
        let e = rb.try_grow(55 << 20).unwrap_err().to_string();
        assert!(e.contains(SERVICE_LIMIT), "{e}");
        rb.try_grow(40 << 20).unwrap();
        assert_eq!(service.reserved(), 90 << 20);
        drop(ra);
        drop(rb);
        assert_eq!(service.reserved(), 0);
    }

    #[test]
    fn an_accounted_array_holds_its_reservation_until_dropped() {
        let service = service_pool(10 << 20);
        let pool: Arc<dyn MemoryPool> = QueryPool::new(service.clone(), 10 << 20);
        let array: ArrayRef = Arc::new(StringArray::from_iter_values((0..1000).map(|i| format!("value {i}"))));
        let expected = array.get_array_memory_size();
        let accounted = account(array.clone(), &pool, "test").unwrap();
        assert_eq!(accounted.as_ref(), array.as_ref());
        drop(array);
        assert_eq!(service.reserved(), expected);
        let slice = accounted.slice(10, 5);
        drop(accounted);
        assert_eq!(service.reserved(), expected, "a slice keeps the buffers");
        drop(slice);
        assert_eq!(service.reserved(), 0);
        let big: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::once("x".repeat(11 << 20))));
        assert!(account(big, &pool, "test").is_err());
    }
}
