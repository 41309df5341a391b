//! `UNNEST`'s output sized before it is built.
//!
//! `UnnestExec` turns one input row holding a list of n values into n
//! rows, copying the row's other columns n times, and builds each output
//! batch in one go: `SELECT repeat('x', 500) AS s, unnest(range(1, 2000000))`
//! is one input row and a 1 GB output batch. [`crate::memory::AccountExec`]
//! reserves that batch only once it exists, so the allocation itself went
//! past the query's limit (+1.3 GB RSS under a 128 MiB limit).
//! [`FanoutCheckExec`] sits on `UNNEST`'s input and works out, for each
//! batch, how many rows and bytes the unnesting will make of it (each row's
//! copies of its own bytes, the longest of its lists times the row's width),
//! and checks that against the query's pool before the batch goes on.

use futures::StreamExt;
use std::sync::Arc;
use vru_queries::datafusion::arrow::array::{Array, ArrayRef, AsArray};
use vru_queries::datafusion::arrow::datatypes::{DataType, SchemaRef};
use vru_queries::datafusion::arrow::record_batch::RecordBatch;
use vru_queries::datafusion::execution::SendableRecordBatchStream;
use vru_queries::datafusion::execution::memory_pool::MemoryPool;
use vru_queries::datafusion::physical_plan::ExecutionPlan;
use vru_queries::datafusion::physical_plan::stream::RecordBatchStreamAdapter;

use crate::memory::{BatchCheck, PoolExec, would_fit};

/// Each row's bytes in `a` (variable-width values exactly, the rest by
/// their share of the array).
fn row_bytes(a: &ArrayRef) -> Vec<u64> {
    let n = a.len();
    let per_row = |offsets: Vec<u64>| offsets.windows(2).map(|w| w[1].saturating_sub(w[0]) + 8).collect::<Vec<_>>();
    match a.data_type() {
        DataType::Utf8 => per_row(a.as_string::<i32>().value_offsets().iter().map(|o| *o as u64).collect()),
        DataType::LargeUtf8 => per_row(a.as_string::<i64>().value_offsets().iter().map(|o| *o as u64).collect()),
        DataType::Binary => per_row(a.as_binary::<i32>().value_offsets().iter().map(|o| *o as u64).collect()),
        DataType::LargeBinary => per_row(a.as_binary::<i64>().value_offsets().iter().map(|o| *o as u64).collect()),
        DataType::Utf8View => a.as_string_view().views().iter().map(|v| 16 + u64::from(*v as u32)).collect(),
        _ => vec![(a.get_array_memory_size() / n.max(1)) as u64 + 1; n],
    }
}

/// Each row's list lengths in `a`, if it is a list.
fn list_lengths(a: &ArrayRef) -> Option<Vec<u64>> {
    let lengths = |offsets: Vec<u64>| offsets.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    match a.data_type() {
        DataType::List(_) => Some(lengths(a.as_list::<i32>().value_offsets().iter().map(|o| *o as u64).collect())),
        DataType::LargeList(_) => Some(lengths(a.as_list::<i64>().value_offsets().iter().map(|o| *o as u64).collect())),
        DataType::FixedSizeList(_, n) => Some(vec![*n as u64; a.len()]),
        _ => None,
    }
}

/// What unnesting `batch` builds, in bytes: each row copied once per
/// element of its longest list.
pub fn unnested_bytes(batch: &RecordBatch) -> u64 {
    let rows = batch.num_rows();
    let mut copies = vec![1u64; rows];
    let mut width = vec![0u64; rows];
    for c in batch.columns() {
        if let Some(lengths) = list_lengths(c) {
            // An unnested list becomes one of its elements per output row.
            let elements = lengths.iter().sum::<u64>().max(1);
            let element = c.get_array_memory_size() as u64 / elements + 1;
            for ((k, w), l) in copies.iter_mut().zip(width.iter_mut()).zip(lengths) {
                *k = (*k).max(l);
                *w = w.saturating_add(element);
            }
            continue;
        }
        for (w, b) in width.iter_mut().zip(row_bytes(c)) {
            *w = w.saturating_add(b);
        }
    }
    copies.iter().zip(&width).fold(0u64, |acc, (k, w)| acc.saturating_add(k.saturating_mul(*w)))
}

/// Checks each batch's unnested size against the pool; see the module
/// documentation.
pub type FanoutCheckExec = PoolExec<FanoutCheck>;

#[derive(Debug)]
pub struct FanoutCheck;

impl BatchCheck for FanoutCheck {
    const NAME: &'static str = "FanoutCheckExec";

    fn wrap(input: &dyn ExecutionPlan, stream: SendableRecordBatchStream, pool: Arc<dyn MemoryPool>) -> SendableRecordBatchStream {
        let schema: SchemaRef = input.schema();
        let checked = stream.map(move |batch| {
            let batch = batch?;
            let bytes = usize::try_from(unnested_bytes(&batch)).unwrap_or(usize::MAX);
            would_fit(&pool, "UNNEST output", bytes)?;
            Ok(batch)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vru_queries::datafusion::arrow::array::{ListArray, StringArray};
    use vru_queries::datafusion::arrow::datatypes::Int64Type;

    #[test]
    fn a_row_is_copied_once_per_element_of_its_longest_list() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x".repeat(100), "y".into()]));
        let l: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some((0..1000).map(Some).collect::<Vec<_>>()),
            Some(vec![Some(1)]),
        ]));
        let batch = RecordBatch::try_from_iter([("s", s), ("l", l)]).unwrap();
        let bytes = unnested_bytes(&batch);
        // Row 1: 1,000 copies of 108 bytes and more; row 2: one small copy.
        assert!((108_000..140_000).contains(&bytes), "{bytes}");
    }
}
