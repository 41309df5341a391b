//! Throughput of each stage and of the whole embedded pipeline on the demo
//! city. A benchmark, not a test: it asserts nothing and prints a table for
//! BENCHMARKS.md. Run with `cargo bench --bench pipeline` (add
//! `-- --scale 3` for a bigger city).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::kafka::{EmbeddedBroker, KafkaOptions};
use vru_ingest::lake::Lake;
use vru_ingest::normaliser::NormaliserOptions;
use vru_ingest::pipeline::{self, LandingOptions, Work};
use vru_ingest::sink::{Confirmation, EventSink, SinkError};
use vru_model::Event;
use vru_model::classification::Catalogue;
use vru_model::tables::{Table, to_record_batch};

/// Keeps events (to time later stages on them) without publishing.
struct Keep(Vec<Event>);

impl EventSink for Keep {
    fn send(&mut self, e: &Event) -> Result<(), SinkError> {
        self.0.push(e.clone());
        Ok(())
    }
    fn confirm(&mut self) -> Result<Confirmation, SinkError> {
        Ok(Confirmation { confirmed_by: "bench".into(), awaiting_lake: None })
    }
}

fn files(landing: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(landing).unwrap().flatten() {
        for f in std::fs::read_dir(p.path()).unwrap().flatten() {
            out.push((p.file_name().to_string_lossy().into_owned(), f.path()));
        }
    }
    out.sort();
    out
}

fn row(stage: &str, n: usize, unit: &str, d: Duration) {
    println!("| {stage} | {n} {unit} | {:.2} s | {:.0} {unit}/s |", d.as_secs_f64(), n as f64 / d.as_secs_f64());
}

fn main() {
    let scale: f64 = std::env::args().skip_while(|a| a != "--scale").nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let dir = tempfile::tempdir().unwrap();
    let city = vru_synth::CityConfig { scale, ..Default::default() };
    println!("| stage | work | time | throughput |\n|---|---|---|---|");

    let t = Instant::now();
    let summary = vru_synth::generate(&city, &dir.path().join("synthetic")).unwrap();
    row("generate city (scale {scale})", summary.rows as usize, "rows", t.elapsed());
    let landing = PathBuf::from(&summary.landing);
    let bytes: u64 = files(&landing).iter().map(|(_, p)| std::fs::metadata(p).unwrap().len()).sum();

    // Read, validate (two passes) and build events, no Kafka.
    let cat = Catalogue::builtin();
    let rules = ExtractRules::default();
    let mut keep = Keep(Vec::new());
    let t = Instant::now();
    for (partner, path) in files(&landing) {
        ExtractJob::new(&path, &partner, &cat, &rules, chrono::Utc::now()).run(&mut keep).unwrap();
    }
    let d = t.elapsed();
    row("read + validate extracts (2 passes)", keep.0.len(), "rows", d);
    println!(
        "| (same, in bytes) | {:.1} MB | {:.2} s | {:.1} MB/s |",
        bytes as f64 / 1e6,
        d.as_secs_f64(),
        bytes as f64 / 1e6 / d.as_secs_f64()
    );
    let events = keep.0;

    let t = Instant::now();
    let wire: Vec<Vec<u8>> = events.iter().map(Event::to_json).collect();
    row("encode events to JSON", wire.len(), "events", t.elapsed());
    let t = Instant::now();
    let decoded: Vec<Event> = wire.iter().map(|w| Event::from_json(w).unwrap()).collect();
    row("decode + check JSON events", decoded.len(), "events", t.elapsed());
    println!("| (mean message size) | {} bytes | | |", wire.iter().map(Vec::len).sum::<usize>() / wire.len().max(1));

    let t = Instant::now();
    let mut n = 0;
    for table in Table::ALL {
        let refs: Vec<&Event> = decoded.iter().filter(|e| e.table() == *table).collect();
        for chunk in refs.chunks(50_000) {
            n += to_record_batch(*table, chunk).unwrap().num_rows();
        }
    }
    row("events to Arrow batches", n, "events", t.elapsed());

    // The whole path: landing folder -> embedded Kafka -> Delta lake.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (published, written, elapsed) = rt.block_on(async {
        let lake = Lake::new(dir.path().join("lake"));
        let broker = EmbeddedBroker::start().unwrap();
        let work =
            Work::Landing(LandingOptions { root: landing.clone(), once: true, settle: Duration::ZERO, poll: Duration::from_millis(50) });
        let t = Instant::now();
        let r = pipeline::run(
            &lake,
            &KafkaOptions::default(),
            Some(&broker),
            work,
            NormaliserOptions::default(),
            ExtractRules::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let published: u64 = r.receipts.iter().map(|r| r.rows_published).sum();
        (published, r.normaliser.unwrap().events_written, t.elapsed())
    });
    row("ingest + Kafka + normalise + Delta commit (end to end)", published as usize, "events", elapsed);
    println!("\n{written} events written to the lake.");
}
