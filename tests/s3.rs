//! The lake on S3-compatible object storage (moto, started by scripts/test
//! through scripts/s3): the whole path written and read there by separate
//! `vru` processes gives exactly what a local lake gives, an independent
//! reader (Python `deltalake`) agrees, retention erases there too, and
//! writers racing on one table never overwrite each other's commits.

mod common;

use common::s3::{S3, keys};
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use vru_ingest::lake::Lake;
use vru_ingest::lake::deltalake::arrow::array::{Int64Array, RecordBatch};
use vru_ingest::lake::deltalake::arrow::datatypes::{DataType, Field, Schema};

fn vru(data: &Path, lake: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vru"));
    c.arg("--data-dir").arg(data);
    if let Some(l) = lake {
        c.args(["--lake", l]);
    }
    let out = c.args(args).env("VRU_LOG", "warn").env("RUST_BACKTRACE", "0").output().expect("vru runs");
    assert!(out.status.success(), "vru {args:?} on {lake:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Row counts of the given tables read by Python `deltalake`.
fn python_counts(tables: &[String]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/read_lake.py");
    let out = Command::new("python3").arg(script).args(tables).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn python_agrees(lake: &Lake) -> i64 {
    let ours: Vec<_> = event_counts_of(lake).await.into_iter().filter(|(_, n)| *n > 0).collect();
    let urls: Vec<String> = ours.iter().map(|(t, _)| lake.table_url(t).unwrap().to_string()).collect();
    let theirs = python_counts(&urls);
    for ((table, n), url) in ours.iter().zip(&urls) {
        assert_eq!(theirs[url]["deltalake"].as_i64(), Some(*n), "{table}: Python deltalake on {url}");
    }
    ours.iter().map(|(_, n)| n).sum()
}

/// The tallies of a retention run's JSON, without its ids and times.
fn tallies(out: &Output) -> Vec<serde_json::Value> {
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "applied", "{j}");
    j["rows"].as_array().unwrap().iter().map(|r| serde_json::json!([r["table"], r["partner"], r["tally"], r["verified"]])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_path_on_s3_gives_what_a_local_lake_gives() {
    let Some(s3) = S3::from_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
    let address = s3.address("whole-path");
    let demo = ["demo", "--scale", "0.2"];
    vru(&local, None, &demo);
    vru(&remote, Some(&address), &demo);
    assert!(!remote.join("lake").exists(), "the S3 run wrote a lake on local disk");
    let lake = Lake::at(&address).unwrap();
    assert!(keys(&lake).await.iter().any(|k| k.starts_with("police_offences/_delta_log/")), "no Delta log on S3");

    // The same events, the same measures.
    let local_lake = Lake::new(local.join("lake"));
    let events = event_counts_of(&lake).await;
    assert_eq!(events, event_counts_of(&local_lake).await);
    let measures = |d: &Path, l: Option<&str>| {
        let out = d.join("measures");
        vru(d, l, &["measures", "--year", "2023/24", "--format", "csv", "--out", out.to_str().unwrap()]);
        let mut files: Vec<_> =
            std::fs::read_dir(&out).unwrap().flatten().map(|e| (e.file_name(), std::fs::read(e.path()).unwrap())).collect();
        files.sort();
        files
    };
    let (here, there) = (measures(&local, None), measures(&remote, Some(&address)));
    let bytes: usize = here.iter().map(|(_, b)| b.len()).sum();
    assert!(here.len() >= 20 && bytes > 10_000, "{} files, {bytes} bytes of measures", here.len());
    for ((name, a), (_, b)) in here.iter().zip(&there) {
        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        let first = a.lines().zip(b.lines()).find(|(x, y)| x != y);
        assert!(a == b, "{name:?} differs between the local and the S3 lake; first difference (local, S3): {first:?}");
    }
    assert_eq!(here.len(), there.len());

    // An independent reader of the S3 lake counts what we count.
    let total = python_agrees(&lake).await;
    assert!(total > 30_000, "{total} events");

    // Retention: the same deletions, verified, with the journal in the
    // bucket and the run's lease released.
    let retention = ["retention", "apply", "--apply", "--confirm", "--as-of", "2026-06-01", "--no-wait", "--json"];
    let (a, b) = (tallies(&vru(&local, None, &retention)), tallies(&vru(&remote, Some(&address), &retention)));
    assert_eq!(a, b);
    let erased: i64 = b.iter().map(|r| r[2]["events_erased"].as_i64().unwrap()).sum();
    assert!(erased > 1_000, "{erased} events erased");
    assert!(b.iter().all(|r| r[3] == true), "a table not verified: {b:?}");
    let after = event_counts_of(&lake).await;
    assert_eq!(after, event_counts_of(&local_lake).await);
    assert_eq!(python_agrees(&lake).await, total - erased);
    let k = keys(&lake).await;
    assert!(k.iter().any(|k| k.starts_with("_retention/run-")), "no journal in the bucket: {k:?}");
    assert!(!k.iter().any(|k| k == "_retention/lock"), "the run's lease was not released");
    eprintln!(
        "REPORT s3: {total} events, {} measure files equal ({bytes} bytes), {erased} erased on both lakes, Python deltalake agrees",
        here.len()
    );
}

/// Four writers append to one S3 table at once, five commits each. Each
/// commit is a conditional put of the next log version, so a race ends in
/// a retry, never in one commit replacing another: all 20 are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_s3_never_overwrite_a_commit() {
    let Some(s3) = S3::from_env() else { return };
    let lake = s3.lake("race");
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    lake.open_or_create("race", schema.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (lake, schema) = (lake.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            let mut table = lake.open("race").await.unwrap().unwrap();
            for c in 0..5i64 {
                let rows = Int64Array::from_iter_values((0..10).map(|i| w * 1000 + c * 10 + i));
                let batch = RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(rows)]).unwrap();
                table = vru_ingest::lake::append(&table, "race", batch, Vec::new()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let table = lake.open("race").await.unwrap().unwrap();
    assert_eq!(table.version(), Some(20), "1 create + 20 appends");
    // How the SQL service notices commits: a listing, from a known version on.
    assert_eq!(lake.latest_version_listed("race").await, Some(20));
    assert_eq!(lake.latest_version_after("race", Some(5)).await, Some(20));
    assert_eq!(lake.latest_version_after("race", Some(20)).await, Some(20));
    assert_eq!(lake.latest_version_listed("no_such_table").await, None);
    assert!(!lake.exists("no_such_table").await && lake.exists("race").await);
    let url = lake.table_url("race").unwrap().to_string();
    assert_eq!(python_counts(std::slice::from_ref(&url))[&url]["deltalake"].as_i64(), Some(200));
    let s = vru_queries::datafusion::prelude::SessionContext::new();
    s.register_table("t", table.table_provider().await.unwrap()).unwrap();
    let n = s.sql("SELECT count(DISTINCT n) FROM t").await.unwrap().collect().await.unwrap();
    assert_eq!(n[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), 200);
}

/// Retention runs one at a time on S3 too: a lease object only one run can
/// create; a second run is refused while it is held; a lease whose run
/// died is taken over once it has expired, and by one run only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_one_at_a_time_on_s3() {
    use vru_ingest::lake::deltalake::logstore::object_store::{ObjectStoreExt as _, path::Path as Key};
    use vru_ingest::retention::RetentionError;
    use vru_ingest::retention::journal::RunLock;
    let Some(s3) = S3::from_env() else { return };
    let lake = s3.lake("lease");
    let first = RunLock::take(&lake).await.unwrap();
    assert!(matches!(RunLock::take(&lake).await, Err(RetentionError::Busy)));
    first.release().await;
    let again = RunLock::take(&lake).await.unwrap();
    again.release().await;
    assert!(keys(&lake).await.is_empty(), "released leases leave nothing: {:?}", keys(&lake).await);

    // A run that died an hour after its lease expired.
    let store = lake.store().unwrap();
    let dead = serde_json::json!({"holder": "pid 1", "expires_unix": 1_000_000_000u64});
    store.put(&Key::from("_retention/lock"), serde_json::to_vec(&dead).unwrap().into()).await.unwrap();
    let (a, b) = tokio::join!(RunLock::take(&lake), RunLock::take(&lake));
    assert!(a.is_ok() != b.is_ok(), "exactly one run takes over an expired lease: {:?} {:?}", a.is_ok(), b.is_ok());
    for l in [a, b].into_iter().flatten() {
        l.release().await;
    }
}
