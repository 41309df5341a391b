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

/// psql's describe commands and two things each answer must contain.
pub const PSQL_DESCRIBE: &[(&str, [&str; 2])] = &[
    ("\\dt", ["police_offences_log", "lsoa_lookup"]),
    ("\\dv", ["measure_h1", "crimes"]),
    ("\\d+", ["police_offences_log", "0 bytes"]),
    ("\\dt+", ["lsoa_lookup", "Size"]),
    ("\\dv+", ["measure_h1", "Description"]),
    ("\\df", ["Result data type", "Argument data types"]),
    ("\\dn", ["public", "Owner"]),
    ("\\dT", ["Schema,Name,Description", "Description"]),
    ("\\du", ["Role name", "Member of"]),
    ("\\d+ measure_h1", ["change_pct", "Storage"]),
    ("\\d+ police_offences_log", ["offence_code", "Storage"]),
    ("\\l", ["Encoding", "Collate"]),
    ("\\do", ["Left arg type", "Result type"]),
    ("\\db", ["Name", "Location"]),
    ("\\dc", ["Source", "Destination"]),
    ("\\dF", ["Schema", "Description"]),
    ("\\dT+", ["Elements", "Access privileges"]),
    ("\\dy", ["Name,Event", "Tags"]),
];

/// A client (tests/server/clients.py `watch`) that prepares one statement
/// server-side and executes it every 0.2 s until `partner` has `want` rows
/// in police_offences_log (30 s at most); returned once it has prepared.
pub fn watch_prepared(host: &str, port: &str, password: &str, partner: &str, want: u32) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/clients.py"))
        .args(["watch", host, port, "ana", partner, &want.to_string(), "30"])
        .env("PGPASSWORD", password)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "the watching client did not start");
    child
}

/// What the watching client saw: the count first, the count last, and the
/// seconds between; asserts it saw the new rows.
pub fn watched(child: std::process::Child, want: i64) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((w["first"].as_i64(), w["last"].as_i64()), (Some(0), Some(want)), "a prepared statement kept its old snapshot: {w}");
    w
}
