//! Results for people: aligned tables in the terminal.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

pub fn table(batches: &[RecordBatch]) -> String {
    match pretty_format_batches(batches) {
        Ok(t) => t.to_string(),
        Err(e) => format!("(cannot format result: {e})"),
    }
}

pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}
