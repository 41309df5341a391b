//! Shared helpers for the end-to-end tests: a small synthetic city, the
//! embedded pipeline run in-process, and counting what reached the lake.
#![allow(dead_code)]

pub mod backend;
pub mod events;
pub mod ids;
pub mod procs;
pub mod s3;

use std::path::{Path, PathBuf};
use std::time::Duration;
use vru_ingest::extract::ExtractRules;
use vru_ingest::kafka::{EmbeddedBroker, KafkaOptions};
use vru_ingest::lake::Lake;
use vru_ingest::normaliser::NormaliserOptions;
use vru_ingest::pipeline::{self, LandingOptions, PipelineReport, Work};
use vru_ingest::reference::{self, PopulationFormat};
use vru_model::classification::Definition;
use vru_model::tables::{Reference, Table};
use vru_queries::datafusion::arrow::array::{Array, Int64Array};
use vru_queries::{LakeSource, Session, SessionOptions, build_session};
use vru_synth::{CityConfig, Summary};

/// About 15,000 events over four years: big enough for every measure to
/// have non-zero cells, small enough to run in seconds.
pub fn small_city(seed: u64) -> CityConfig {
    CityConfig { seed, focus_lsoas: 16, other_las: 2, lsoas_per_other_la: 8, first_fy: 2020, years: 4, scale: 0.6 }
}

pub fn kafka() -> KafkaOptions {
    KafkaOptions { partitions: 2, ..Default::default() }
}

pub fn fast_normaliser() -> NormaliserOptions {
    NormaliserOptions { max_batch_rows: 5_000, max_batch_age_ms: 100, ..Default::default() }
}

pub fn generate(dir: &Path, city: &CityConfig) -> Summary {
    vru_synth::generate(city, &dir.join("synthetic")).expect("generate")
}

pub async fn load_reference(lake: &Lake, summary: &Summary) {
    for r in Reference::ALL {
        reference::load(lake, *r, &Path::new(&summary.reference).join(format!("{}.csv", r.name())), PopulationFormat::Long)
            .await
            .expect("reference");
    }
}

/// Runs ingest and normaliser on a fresh embedded broker over a landing
/// folder, once, as `vru run --once` does.
pub async fn run_landing(lake: &Lake, landing: &Path) -> PipelineReport {
    let broker = EmbeddedBroker::start().expect("embedded broker");
    let work =
        Work::Landing(LandingOptions { root: landing.to_path_buf(), once: true, settle: Duration::ZERO, poll: Duration::from_millis(50) });
    pipeline::run(lake, &kafka(), Some(&broker), work, fast_normaliser(), ExtractRules::default(), std::future::pending())
        .await
        .expect("pipeline")
}

pub async fn session(lake_dir: &Path, focus: Vec<String>) -> Session {
    session_of(&Lake::new(lake_dir), focus).await
}

/// A session over a lake anywhere (a directory or `s3://`).
pub async fn session_of(lake: &Lake, focus: Vec<String>) -> Session {
    build_session(&session_options(lake, focus)).await.expect("session")
}

/// The options of [`session_of`]: the latest commits, the built-in definition.
pub fn session_options(lake: &Lake, focus: Vec<String>) -> SessionOptions {
    SessionOptions::new(
        LakeSource::Delta { lake: lake.clone(), versions: Default::default() },
        Definition::builtin("local").unwrap(),
        focus,
    )
}

pub async fn count(session: &Session, sql: &str) -> i64 {
    let b = session.ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
    b[0].column(0).as_any().downcast_ref::<Int64Array>().expect("count is Int64").value(0)
}

/// Rows in every event table's full history.
pub async fn event_counts(lake_dir: &Path) -> Vec<(String, i64)> {
    event_counts_of(&Lake::new(lake_dir)).await
}

pub async fn event_counts_of(lake: &Lake) -> Vec<(String, i64)> {
    let s = session_of(lake, vec![]).await;
    let mut out = Vec::new();
    for t in Table::ALL {
        out.push((t.name().to_string(), count(&s, &format!("SELECT count(*) FROM {}_log", t.name())).await));
    }
    out
}

pub fn landing_dir(summary: &Summary) -> PathBuf {
    PathBuf::from(&summary.landing)
}

/// Copies a directory tree (used to drop the same extracts twice).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Every file under `dir` whose name ends in `.ext`, at any depth; a
/// directory that does not exist (yet, or any more) holds none.
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    all_files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|x| x == ext)).collect()
}

/// Every file under `dir`, at any depth (symbolic links are not followed).
pub fn all_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                todo.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

pub fn string_values(a: &dyn Array) -> Vec<Option<String>> {
    use vru_queries::datafusion::arrow::util::display::array_value_to_string;
    (0..a.len()).map(|i| if a.is_null(i) { None } else { Some(array_value_to_string(a, i).unwrap()) }).collect()
}
