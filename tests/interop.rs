//! The lake is readable by engines no one here wrote: Python's `deltalake`
//! (following the Delta log) and DuckDB (reading the Parquet files the log
//! lists) must count the same rows as our own reader.

mod common;

use common::*;
use std::process::Command;
use vru_ingest::lake::Lake;

fn python_has_readers() -> bool {
    Command::new("python3").args(["-c", "import deltalake, duckdb"]).status().is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_engines_read_the_same_rows() {
    if !python_has_readers() {
        assert!(
            std::env::var_os("VRU_REQUIRE_INTEROP").is_none(),
            "python3 with deltalake and duckdb is required: pip install -r tests/requirements.txt"
        );
        eprintln!("SKIPPED: python3 deltalake/duckdb not installed (scripts/test installs them and makes this test mandatory)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(5));
    let lake = Lake::new(dir.path().join("lake"));
    run_landing(&lake, &landing_dir(&summary)).await;
    let ours = event_counts(lake.local_root().unwrap()).await;
    let paths: Vec<String> = ours.iter().map(|(t, _)| lake.local_root().unwrap().join(t).display().to_string()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/read_lake.py");
    let out = Command::new("python3").arg(script).args(&paths).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for ((table, n), path) in ours.iter().zip(&paths) {
        // The synthetic city has no public street-level data; everything else must have rows.
        assert!(*n > 0 || table == "police_uk_crimes", "{table} is empty");
        assert_eq!(theirs[path]["deltalake"].as_i64(), Some(*n), "{table}: deltalake");
        assert_eq!(theirs[path]["duckdb"].as_i64(), Some(*n), "{table}: duckdb");
    }
}
