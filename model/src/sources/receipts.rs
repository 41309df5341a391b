//! Extract receipts: the summary of each ingest, published as an event on
//! the receipts topic. Partners never send this source; the ingest writes it.

use crate::attributes::{TableAttributes, text};
use arrow_schema::{DataType, Field};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The summary of one extract's ingest, published as an event so the data
/// quality measure (Q1) reads it from the lake like everything else.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExtractReceipt {
    pub file_name: String,
    pub extract_kind: String,
    pub extract_date: NaiveDate,
    pub status: String,
    pub rows_read: u64,
    pub rows_published: u64,
    pub rows_rejected: u64,
    pub rows_duplicate: u64,
}

impl TableAttributes for ExtractReceipt {
    fn fields() -> Vec<Field> {
        let count = |n: &str| Field::new(n, DataType::Int64, false);
        vec![
            text("file_name"),
            text("extract_kind"),
            Field::new("extract_date", DataType::Date32, false),
            text("status"),
            count("rows_read"),
            count("rows_published"),
            count("rows_rejected"),
            count("rows_duplicate"),
        ]
    }
}
