//! What the SQL service test reads and writes besides the service: the
//! tables `vru measures` prints, cell comparison across clients' renderings,
//! and a bulk Delta table for timing large fetches.

use std::collections::HashMap;
use std::sync::Arc;
use vru_ingest::lake::{self, Lake};
use vru_model::tables::Table;
use vru_queries::datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, TimestampMicrosecondArray};
use vru_queries::datafusion::arrow::datatypes::{DataType, TimeUnit};
use vru_queries::datafusion::arrow::record_batch::RecordBatch;

/// Sections of `vru measures` output: measure id -> (header, rows).
pub fn measure_tables(out: &str) -> HashMap<String, (Vec<String>, Vec<Vec<String>>)> {
    let mut found = HashMap::new();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(m) = vru_queries::measures::MEASURES.iter().find(|m| line.starts_with(&format!("{} {} (", m.id, m.title))) else {
            continue;
        };
        let mut table: Vec<Vec<String>> = Vec::new();
        while let Some(l) = lines.next_if(|l| !l.is_empty()) {
            if l.starts_with('|') {
                table.push(l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect());
            }
        }
        if !table.is_empty() {
            let header = table.remove(0);
            found.insert(m.id.to_string(), (header, table));
        }
    }
    found
}

/// Two renderings of one cell agree: booleans in any spelling, numbers to
/// a relative 1e-9.
pub fn same_cell(ours: &str, theirs: &str) -> bool {
    let norm = |s: &str| match s {
        "t" | "TRUE" => "true".to_string(),
        "f" | "FALSE" => "false".to_string(),
        s => s.to_string(),
    };
    let (a, b) = (norm(ours), norm(theirs));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// A Delta table of `rows` rows of police ASB records for one partner,
/// written straight to the lake: enough rows to time a bulk fetch.
pub async fn write_bulk(lake: &Lake, rows: usize) {
    let t = Table::PoliceAsb;
    let schema = t.schema();
    let table = lake.open_or_create(t.name(), schema.clone()).await.unwrap();
    let base = 1_672_531_200_000_000i64; // 2023-01-01
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            let name = f.name().as_str();
            match f.data_type() {
                DataType::Utf8 => Arc::new(StringArray::from_iter_values((0..rows).map(|i| match name {
                    "partner" => "police-bulk".to_string(),
                    "source" => "police".to_string(),
                    "kind" => "asb".to_string(),
                    "record_id" | "event_id" => format!("{name}-{i:07}"),
                    "category" => ["rowdy", "nuisance", "environmental"][i % 3].to_string(),
                    "sex" => ["f", "m"][i % 2].to_string(),
                    _ => format!("{name}-{}", i % 1000),
                }))),
                DataType::Int32 => {
                    Arc::new(Int32Array::from_iter_values((0..rows).map(|i| if name == "record_version" { 1 } else { (i % 90) as i32 })))
                }
                DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                    let a = TimestampMicrosecondArray::from_iter_values((0..rows).map(|i| base + i as i64 * 60_000_000));
                    Arc::new(match tz {
                        Some(tz) => a.with_timezone(tz.clone()),
                        None => a,
                    })
                }
                other => panic!("write_bulk does not generate {other}"),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    lake::append(&table, t.name(), batch, vec![]).await.unwrap();
}
