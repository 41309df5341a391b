//! Yield points for operators that can compute for seconds inside one poll.
//!
//! A query is stopped (time limit, cancel request) when its task next
//! yields. A nested-loop join whose filter rarely matches can loop over its
//! whole probe input inside a single poll: tokio's cooperative budget only
//! makes it yield after 128 input batches, minutes of CPU with a large
//! build side. [`YieldExec`] in front of its probe side cuts the input into
//! small batches and returns `Pending` once after each, so the join hands
//! control back, and a cancelled query ends, after at most a small batch
//! against the build side.

use futures::Stream;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use vru_queries::datafusion::arrow::datatypes::SchemaRef;
use vru_queries::datafusion::arrow::record_batch::RecordBatch;
use vru_queries::datafusion::common::tree_node::TreeNodeRecursion;
use vru_queries::datafusion::error::Result;
use vru_queries::datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use vru_queries::datafusion::physical_expr::PhysicalExpr;
use vru_queries::datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// Rows per batch on a nested-loop join's probe side.
pub const PROBE_ROWS: usize = 256;

#[derive(Debug)]
pub struct YieldExec {
    input: Arc<dyn ExecutionPlan>,
    max_rows: usize,
}

impl YieldExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, max_rows: usize) -> YieldExec {
        YieldExec { input, max_rows: max_rows.max(1) }
    }
}

impl DisplayAs for YieldExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "YieldExec: max_rows={}", self.max_rows)
    }
}

impl ExecutionPlan for YieldExec {
    fn name(&self) -> &'static str {
        "YieldExec"
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
        Ok(Arc::new(YieldExec::new(children.swap_remove(0), self.max_rows)))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(Yielding { schema: self.input.schema(), input, max_rows: self.max_rows, pending: None, offset: 0, yield_next: false }))
    }
}

struct Yielding {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    max_rows: usize,
    /// A batch still being handed out in slices.
    pending: Option<RecordBatch>,
    offset: usize,
    yield_next: bool,
}

impl Stream for Yielding {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if std::mem::take(&mut self.yield_next) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.pending.is_none() {
            match self.input.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(batch))) => {
                    self.pending = Some(batch);
                    self.offset = 0;
                }
                other => return other,
            }
        }
        let (slice, done) = {
            let batch = self.pending.as_ref().expect("set above");
            let len = (batch.num_rows() - self.offset).min(self.max_rows);
            (batch.slice(self.offset, len), self.offset + len >= batch.num_rows())
        };
        self.offset += slice.num_rows();
        if done {
            self.pending = None;
        }
        self.yield_next = true;
        Poll::Ready(Some(Ok(slice)))
    }
}

impl RecordBatchStream for Yielding {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
