//! Scenarios written once and run against each backend: the embedded mock
//! cluster and a real Kafka-protocol broker (nisshi, started by
//! scripts/test), with the lake in a directory or on S3-compatible storage
//! (moto, started by scripts/test). Each checks what reached the lake,
//! event id by event id.

mod common;

use common::backend::Backend;
use common::ids::*;
use common::s3::{LakeAt, S3};
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use vru_ingest::extract::ExtractRules;
use vru_ingest::lake::Lake;
use vru_ingest::normaliser::{Normaliser, Stats};
use vru_ingest::pipeline;
use vru_ingest::producer::{ConfirmBy, KafkaSink};
use vru_model::classification::Catalogue;
use vru_model::ids::EventId;

/// Publishes the files; returns the rows published (receipts not counted).
async fn publish(b: &Backend, opts: &vru_ingest::kafka::KafkaOptions, files: Vec<(String, PathBuf)>) -> (u64, u64) {
    let mut sink = KafkaSink::new(opts, &b.bootstrap(), ConfirmBy::Broker).unwrap();
    let receipts = tokio::task::spawn_blocking(move || {
        pipeline::ingest_files(&files, None, &mut sink, &ExtractRules::default(), &Catalogue::builtin(), &vru_ingest::extract::NothingKnown)
            .unwrap()
    })
    .await
    .unwrap();
    (receipts.iter().map(|r| r.rows_published).sum(), receipts.len() as u64)
}

async fn normalise(b: &Backend, lake: &Lake, opts: &vru_ingest::kafka::KafkaOptions) -> Stats {
    let mut n = Normaliser::start(lake, opts, &b.bootstrap(), fast_normaliser()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(300), n.run(std::future::pending(), true)).await.expect("normaliser caught up").unwrap()
}

/// Extracts in, every event in the lake exactly once; sent again, nothing added.
async fn exactly_the_events_produced(b: Backend, at: LakeAt) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(21));
    let files = extract_files(&landing_dir(&summary));
    let expected = expected_ids(&files);
    let opts = b.kafka(&format!("exact{}", at.tag()));
    b.ensure_topics(&opts).await;
    let lake = at.lake(dir.path(), "exact");
    let (rows, receipts) = publish(&b, &opts, files.clone()).await;
    let stats = normalise(&b, &lake, &opts).await;
    assert_eq!(stats.messages, rows + receipts);
    assert_eq!(lake_ids(&lake).await, expected);

    let (rows, receipts) = publish(&b, &opts, files).await;
    let stats = normalise(&b, &lake, &opts).await;
    assert_eq!((stats.events_written, stats.duplicates_dropped), (0, rows + receipts), "{stats:?}");
    assert_eq!(lake_ids(&lake).await, expected);
}

/// A client no one here wrote (Python confluent-kafka with its own
/// librdkafka) writes events straight into a topic, and reads what the
/// pipeline published; the normaliser takes its events like ours.
async fn an_independent_client_takes_part(b: Backend, at: LakeAt) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/kafka_client.py");
    if !Command::new("python3").args(["-c", "import confluent_kafka"]).status().is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("VRU_REQUIRE_INTEROP").is_none(), "pip install -r tests/requirements.txt");
        eprintln!("SKIPPED: python3 confluent-kafka not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(22));
    let files: Vec<_> = extract_files(&landing_dir(&summary)).into_iter().filter(|(p, _)| p.starts_with("police")).collect();
    let opts = b.kafka(&format!("python{}", at.tag()));
    b.ensure_topics(&opts).await;
    let topic = opts.topic(vru_model::Source::Police);
    let (ours, _) = publish(&b, &opts, files).await;

    let out = Command::new("python3").args([script, "produce", &b.bootstrap(), &topic, "50"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();

    let out = Command::new("python3").args([script, "consume", &b.bootstrap(), &topic]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["messages"].as_u64(), Some(ours + 50), "the python client reads every police event we published and its own 50");

    let lake = at.lake(dir.path(), "python");
    normalise(&b, &lake, &opts).await;
    let ids = lake_ids(&lake).await;
    for id in &theirs {
        assert!(ids.contains(&EventId::parse(id).unwrap()), "python event {id} not in the lake");
    }
    let s = session_of(&lake, vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_asb_log WHERE partner = 'police-python-client'").await, 50);
}

macro_rules! per_backend {
    ($scenario:ident, $embedded:ident, $real:ident, $s3:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $embedded() {
            $scenario(Backend::embedded(), LakeAt::Local).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $real() {
            if let Some(b) = Backend::real() {
                $scenario(b, LakeAt::Local).await;
            }
        }

        /// The real broker when there is one, and the lake on S3.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $s3() {
            if let Some(s3) = S3::from_env() {
                $scenario(Backend::real().unwrap_or_else(Backend::embedded), LakeAt::S3(s3)).await;
            }
        }
    };
}

per_backend!(
    exactly_the_events_produced,
    embedded_exactly_the_events_produced,
    real_broker_exactly_the_events_produced,
    s3_lake_exactly_the_events_produced
);
per_backend!(an_independent_client_takes_part, embedded_independent_client, real_broker_independent_client, s3_lake_independent_client);
