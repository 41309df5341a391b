//! Re-sent extracts add nothing; a normaliser killed mid-stream and
//! restarted leaves exactly the events produced: none lost, none twice.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use vru_ingest::extract::{ExtractJob, ExtractRules};
use vru_ingest::kafka::{self, EmbeddedBroker, KafkaOptions};
use vru_ingest::lake::{self as lakeio, Lake};
use vru_ingest::normaliser::{Normaliser, NormaliserOptions};
use vru_ingest::pipeline;
use vru_ingest::producer::{ConfirmBy, KafkaSink};
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::ids::EventId;
use vru_model::tables::Table;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reingesting_the_same_extracts_adds_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(3));
    let again = dir.path().join("landing-again");
    copy_tree(&landing_dir(&summary), &again);
    let crlf = dir.path().join("landing-crlf");
    copy_tree(&landing_dir(&summary), &crlf);
    let lake = Lake::new(dir.path().join("lake"));

    let first = run_landing(&lake, &landing_dir(&summary)).await;
    let after_first = event_counts(lake.local_root().unwrap()).await;
    let written_first = first.normaliser.as_ref().unwrap().events_written;
    assert!(written_first > 5_000, "{written_first}");

    // The same extracts again, through a fresh broker (as after a restart)
    // and a landing folder that has never seen them: the lake's receipts
    // know every file, so nothing is published at all.
    let second = run_landing(&lake, &again).await;
    let stats = second.normaliser.unwrap();
    assert_eq!(stats.events_written, 0, "{stats:?}");
    assert!(second.receipts.iter().all(|r| r.status.as_str() == "duplicate" && r.rows_published == 0));
    assert_eq!(second.receipts.len(), first.receipts.len());
    assert_eq!(event_counts(lake.local_root().unwrap()).await, after_first);

    // And the same file dropped into the landing folder that already
    // ingested it is recognised by its hash and not published at all.
    let processed = landing_dir(&summary).join("police-northshire/processed");
    let name =
        std::fs::read_dir(&processed).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "csv")).unwrap();
    std::fs::copy(&name, landing_dir(&summary).join("police-northshire").join(name.file_name().unwrap())).unwrap();
    let third = run_landing(&lake, &landing_dir(&summary)).await;
    assert_eq!(third.receipts.len(), 1);
    assert_eq!(third.receipts[0].status.as_str(), "duplicate");
    assert_eq!(third.receipts[0].rows_published, 0);
    assert_eq!(event_counts(lake.local_root().unwrap()).await, after_first);

    // The same rows in other bytes (another export of the same data, CRLF
    // line endings): each row is known to the lake with the same content,
    // so none is published again and the receipt counts them as duplicates.
    let mut rows = 0;
    for (_, path) in extract_files(&crlf) {
        let text = std::fs::read_to_string(&path).unwrap();
        rows += text.lines().count() as u64 - 1;
        std::fs::write(&path, text.replace('\n', "\r\n")).unwrap();
    }
    let fourth = run_landing(&lake, &crlf).await;
    // Only the new files' receipts are new events.
    let files = fourth.receipts.len() as i64;
    assert_eq!(fourth.normaliser.unwrap().events_written, files as u64);
    assert!(
        fourth.receipts.iter().all(|r| r.rows_published == 0),
        "{:?}",
        fourth.receipts.iter().map(|r| r.issue_lines()).collect::<Vec<_>>()
    );
    assert_eq!(fourth.receipts.iter().map(|r| r.rows_duplicate).sum::<u64>(), rows);
    let expected: Vec<(String, i64)> =
        after_first.iter().map(|(t, n)| (t.clone(), if t == "extract_receipts" { n + files } else { *n })).collect();
    assert_eq!(event_counts(lake.local_root().unwrap()).await, expected);
}

/// Every extract file of the generated city, with its partner.
fn extract_files(landing: &std::path::Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(landing).unwrap() {
        let p = p.unwrap();
        let partner = p.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(p.path()).unwrap() {
            out.push((partner.clone(), f.unwrap().path()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normaliser_killed_mid_stream_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(11));
    let files = extract_files(&landing_dir(&summary));
    let cat = Catalogue::builtin();
    let rules = ExtractRules::default();

    // What should end up in the lake: every distinct event the files hold.
    let mut expected = HashSet::new();
    for (partner, path) in &files {
        let mut sink = VecSink::default();
        ExtractJob::new(path, partner, &cat, &rules, chrono::Utc::now()).run(&mut sink).unwrap();
        expected.extend(sink.events.iter().map(|e| e.envelope.event_id));
    }

    let kafka_opts = kafka();
    let broker = EmbeddedBroker::start().unwrap();
    kafka::ensure_topics(&kafka_opts, Some(&broker)).await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let mut sink = KafkaSink::new(&kafka_opts, &bootstrap, ConfirmBy::Broker).unwrap();
    let produced = tokio::task::spawn_blocking(move || {
        pipeline::ingest_files(&files, None, &mut sink, &rules, &cat, &vru_ingest::extract::NothingKnown).unwrap()
    })
    .await
    .unwrap();
    let produced: u64 = produced.iter().map(|r| r.rows_published + 1).sum();

    let lake = Lake::new(dir.path().join("lake"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut opts = fast_normaliser();
    opts.max_batch_rows = 1_500;
    for kill in 0..5 {
        let mut n = Normaliser::start(&lake, &kafka_opts, &bootstrap, opts.clone()).await.unwrap();
        let task = tokio::spawn(async move { n.run(std::future::pending(), false).await });
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..700))).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled(), "kill {kill}: the normaliser had already stopped");
        // Let file writes the killed task started finish, as the kernel
        // would for a killed process, before the next one reads the lake.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let in_lake: i64 = event_counts(lake.local_root().unwrap()).await.iter().map(|(_, n)| n).sum();
        eprintln!("kill {kill}: {in_lake} of {} events in the lake", expected.len());
    }
    let mut n = Normaliser::start(&lake, &kafka_opts, &bootstrap, opts).await.unwrap();
    tokio::time::timeout(Duration::from_secs(300), n.run(std::future::pending(), true)).await.expect("caught up").unwrap();

    let mut seen = HashSet::new();
    let mut total = 0usize;
    for t in Table::ALL {
        let delta = lake.open(t.name()).await.unwrap().unwrap();
        let ids = lakeio::event_ids(&delta, t.name()).await.unwrap();
        let rows = event_counts(lake.local_root().unwrap()).await.into_iter().find(|(n, _)| n == t.name()).unwrap().1 as usize;
        assert_eq!(rows, ids.len(), "{}: {rows} rows but {} distinct event ids", t.name(), ids.len());
        total += rows;
        seen.extend(ids);
    }
    let missing: Vec<&EventId> = expected.difference(&seen).take(5).collect();
    let extra: Vec<&EventId> = seen.difference(&expected).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
    assert_eq!(total, expected.len());
    eprintln!("produced {produced} messages; lake holds {total} events = {} distinct expected", expected.len());
}

/// The embedded broker keeps about 5 MB per partition and deletes older
/// messages: an extract larger than that must still arrive whole, because
/// ingest waits for the normaliser to read each chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracts_larger_than_the_embedded_log_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    let city =
        vru_synth::CityConfig { seed: 8, focus_lsoas: 300, other_las: 1, lsoas_per_other_la: 8, first_fy: 2022, years: 1, scale: 0.2 };
    let summary = generate(dir.path(), &city);
    let census =
        std::fs::read_to_string(landing_dir(&summary).join("education-castlebridge/census_2023-02-15.csv")).unwrap().lines().count();
    // About 600 bytes of JSON an event: 30,000 rows are 18 MB, more than
    // the embedded broker keeps in two 5 MB partitions.
    assert!(census > 30_000, "the census extract ({census} rows) must outgrow the embedded broker's log");
    let lake = Lake::new(dir.path().join("lake"));
    let report = run_landing(&lake, &landing_dir(&summary)).await;
    let published: u64 = report.receipts.iter().map(|r| r.rows_published).sum();
    let stats = report.normaliser.unwrap();
    let in_lake: i64 = event_counts(lake.local_root().unwrap()).await.iter().map(|(_, n)| n).sum();
    let receipts = report.receipts.len() as i64;
    assert_eq!(in_lake, published as i64 - stats.duplicates_dropped as i64 + receipts, "{stats:?}");
}

/// When the broker no longer holds the next offset the lake needs, the
/// normaliser stops with an error instead of silently skipping ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_kafka_stops_the_normaliser_instead_of_skipping() {
    use vru_ingest::normaliser::NormaliserError;
    let dir = tempfile::tempdir().unwrap();
    let (opts, _broker, bootstrap, send) = one_partition_broker().await;
    send(0, 2_000);
    let lake = Lake::new(dir.path().join("lake"));
    let mut n = Normaliser::start(&lake, &opts, &bootstrap, fast_normaliser()).await.unwrap();
    let stats = n.run(std::future::pending(), true).await.unwrap();
    assert_eq!(stats.events_written, 2_000);
    drop(n);
    // 40,000 more messages: far beyond 5 MB, so the broker drops the oldest,
    // including offsets the lake has not read yet.
    send(2_000, 42_000);
    let mut n = Normaliser::start(&lake, &opts, &bootstrap, fast_normaliser()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(60), n.run(std::future::pending(), true)).await.unwrap();
    assert!(matches!(r, Err(NormaliserError::Gap(_))), "{r:?}");
    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_asb_log").await, 2_000, "nothing past the gap was written");
}

/// A broker reset keeping its cluster id (a compose file's fixed
/// `KAFKA_CLUSTER_ID` over a wiped volume) starts its offsets at 0 again.
/// The lake has read offsets up to 2,000 of the old log, so reading the new
/// one from there would skip its first 2,000 messages as already written.
/// The normaliser refuses to start; with a new lineage it reads the new log
/// from the start, writes the new events and knows the re-sent ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_reset_under_the_same_cluster_id_is_refused_not_skipped() {
    use vru_ingest::normaliser::NormaliserError;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let same_id = || NormaliserOptions { cluster_identity: Some("fixed-cluster-id".into()), ..fast_normaliser() };
    {
        let (opts, _broker, bootstrap, send) = one_partition_broker().await;
        send(0, 2_000);
        let mut n = Normaliser::start(&lake, &opts, &bootstrap, same_id()).await.unwrap();
        assert_eq!(n.run(std::future::pending(), true).await.unwrap().events_written, 2_000);
    }
    // The new broker: 100 events the lake holds (an extract sent again)
    // and 500 it has never seen, at offsets 0..600.
    let (opts, _broker, bootstrap, send) = one_partition_broker().await;
    send(0, 100);
    send(5_000, 5_500);
    let r = Normaliser::start(&lake, &opts, &bootstrap, same_id()).await;
    match r {
        Err(e @ NormaliserError::BrokerBehindLake { .. }) => {
            let text = e.to_string();
            assert!(text.contains("up to offset 2000") && text.contains("ends at 600") && text.contains("lineage"), "{text}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a normaliser started on a broker whose log ends before the lake's offsets"),
    }
    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_asb_log").await, 2_000, "nothing written by the refused start");
    let mut n =
        Normaliser::start(&lake, &opts, &bootstrap, NormaliserOptions { lineage: "reset-2026-11".into(), ..same_id() }).await.unwrap();
    let stats = n.run(std::future::pending(), true).await.unwrap();
    assert_eq!((stats.events_written, stats.messages), (500, 600), "{stats:?}");
    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_asb_log").await, 2_500);
    assert_eq!(count(&s, "SELECT count(DISTINCT event_id) FROM police_asb_log").await, 2_500);
}

/// Two normalisers on one lake: the second started before the first wrote
/// anything, so it believes the lake holds nothing. Right before its commit
/// it re-reads the table's `txn` offsets, finds the first one's, and stops
/// instead of writing every event a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_normaliser_on_the_same_lake_stops_instead_of_writing_twice() {
    use vru_ingest::normaliser::NormaliserError;
    let dir = tempfile::tempdir().unwrap();
    let (opts, _broker, bootstrap, send) = one_partition_broker().await;
    send(0, 500);
    let lake = Lake::new(dir.path().join("lake"));
    let mut first = Normaliser::start(&lake, &opts, &bootstrap, fast_normaliser()).await.unwrap();
    let mut second = Normaliser::start(&lake, &opts, &bootstrap, fast_normaliser()).await.unwrap();
    let stats = first.run(std::future::pending(), true).await.unwrap();
    assert_eq!(stats.events_written, 500);
    let r = tokio::time::timeout(Duration::from_secs(60), second.run(std::future::pending(), true)).await.unwrap();
    match r {
        Err(e @ NormaliserError::Conflict { .. }) => {
            assert!(!e.retryable());
            assert!(e.to_string().contains("two normalisers are writing this lake"), "{e}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_asb_log").await, 500, "nothing written twice");
}

/// An embedded broker whose topics have one partition, and a sender of
/// ASB events `from..to` to the police topic.
async fn one_partition_broker() -> (KafkaOptions, EmbeddedBroker, String, impl Fn(usize, usize)) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let mut opts = kafka();
    opts.partitions = 1;
    let broker = EmbeddedBroker::start().unwrap();
    kafka::ensure_topics(&opts, Some(&broker)).await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let producer: ThreadedProducer<DefaultProducerContext> = opts.client_config(&bootstrap).create().unwrap();
    let topic = opts.topic(vru_model::Source::Police);
    let send = move |from: usize, to: usize| {
        for i in from..to {
            let event = asb_event(i);
            producer.send(BaseRecord::<[u8], [u8]>::to(&topic).key(b"k".as_slice()).payload(event.to_json().as_slice())).unwrap();
            if i % 1000 == 0 {
                producer.flush(Duration::from_secs(10)).unwrap();
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    };
    (opts, broker, bootstrap, send)
}

fn asb_event(i: usize) -> vru_model::Event {
    use vru_model::event::{AsbIncident, Attributes, Envelope, Kind, Source};
    let record = format!("asb{i}");
    vru_model::Event {
        envelope: Envelope {
            event_id: EventId::derive("police", "police-test", &record, 1),
            source: Source::Police,
            kind: Kind::AsbIncident,
            partner: "police-test".into(),
            record_id: record,
            record_version: 1,
            occurred_at: chrono::NaiveDate::from_ymd_opt(2023, 6, 1).unwrap().and_hms_opt(22, 0, 0).unwrap(),
            recorded_at: None,
            ingested_at: chrono::Utc::now(),
            extract_id: "x".repeat(64),
            subject: None,
            role: None,
            age: None,
            sex: None,
            home_lsoa: None,
            event_lsoa: Some("E01000001".into()),
            content_hash: None,
        },
        attributes: Attributes::AsbIncident(AsbIncident { category: "nuisance".into() }),
    }
}

/// The normaliser no longer holds every id of the lake: it asks the files,
/// through their `event_id` bloom filters, which of a batch they hold. The
/// answer must be exact: every id present is found, in a file with a
/// filter and in one written before filters were (read in full), and no
/// absent id is reported, however many are asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_says_exactly_which_ids_of_a_batch_it_holds() {
    use vru_ingest::lake::deltalake::protocol::SaveMode;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path());
    let t = Table::PoliceAsb;
    let delta = lake.open_or_create(t.name(), t.schema()).await.unwrap();
    let events: Vec<_> = (0..6_000).map(asb_event).collect();
    let batch = |r: std::ops::Range<usize>| vru_model::tables::to_record_batch(t, &events[r].iter().collect::<Vec<_>>()).unwrap();
    // Two files with filters, and one without (the default writer).
    let delta = lakeio::append(&delta, t.name(), batch(0..2_000), vec![]).await.unwrap();
    let delta = lakeio::append(&delta, t.name(), batch(2_000..4_000), vec![]).await.unwrap();
    let delta = delta.write(vec![batch(4_000..5_000)]).with_save_mode(SaveMode::Append).await.unwrap();
    let id = |i: usize| events[i].envelope.event_id;

    let mut lookup = lakeio::IdLookup::new(1 << 20);
    // Ask for 1,000 present ids across all three files and 1,000 absent.
    let asked: Vec<EventId> = (0..5_000).step_by(5).chain(5_000..6_000).map(id).collect();
    let (found, stats) = lookup.present(&delta, t.name(), &asked).await.unwrap();
    let expected: HashSet<EventId> = (0..5_000).step_by(5).map(id).collect();
    assert_eq!(found, expected);
    assert_eq!((stats.files, stats.files_loaded), (3, 3), "{stats:?}");

    // Only absent ids: the filters rule out both filtered files (a false
    // positive has odds of about 1 in 1,000 here); the old file is read.
    let (found, stats) = lookup.present(&delta, t.name(), &(5_000..5_100).map(id).collect::<Vec<_>>()).await.unwrap();
    assert!(found.is_empty());
    assert_eq!((stats.row_groups, stats.row_groups_read, stats.files_loaded), (3, 1, 0), "cached, and pruned: {stats:?}");

    // A tight budget keeps at most what fits, and still answers exactly.
    let mut small = lakeio::IdLookup::new(1);
    let (found, _) = small.present(&delta, t.name(), &[id(1), id(4_999), id(5_999)]).await.unwrap();
    assert_eq!(found, HashSet::from([id(1), id(4_999)]));
    let (_, stats) = small.present(&delta, t.name(), &[id(2)]).await.unwrap();
    assert_eq!(stats.files_loaded, 3, "nothing kept past the budget");
}

/// A partner's next extract is checked against the last one even before
/// the normaliser has committed it (here nothing commits at all): rows sent
/// again count as duplicates and are not published again, and a record
/// changed without a new version is refused, however slow the lake. Before,
/// both depended on the normaliser having committed in time, so an S3 lake
/// gave other Q1 figures than a local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_extract_is_checked_against_the_last_before_the_lake_has_it() {
    use vru_model::receipt::Status;
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(31));
    let files = common::ids::extract_files(&landing_dir(&summary));
    let (partner, first) = files
        .iter()
        .find(|(p, f)| p.starts_with("police") && f.file_name().unwrap().to_string_lossy().starts_with("offences"))
        .unwrap()
        .clone();
    let text = std::fs::read_to_string(&first).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let resent = dir.path().join("offences_2099-01-01.csv");
    std::fs::write(&resent, format!("{}\n", lines[..11].join("\n"))).unwrap();
    // The first record again, same version, its knife flag flipped.
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    let knife = lines[0].split(',').position(|c| c == "knife_flag").unwrap();
    cells[knife] = if cells[knife] == "Y" { "N".into() } else { "Y".into() };
    let changed = dir.path().join("offences_2099-02-01.csv");
    std::fs::write(&changed, format!("{}\n{}\n", lines[0], cells.join(","))).unwrap();

    let lake = Lake::new(dir.path().join("lake"));
    let batch = vec![(partner.clone(), first), (partner.clone(), resent), (partner, changed)];
    let receipts = tokio::task::spawn_blocking(move || {
        let (_, known) = pipeline::lake_knowledge(Some(&lake));
        let mut sink = VecSink::default();
        pipeline::ingest_files(&batch, None, &mut sink, &ExtractRules::default(), &Catalogue::builtin(), known.as_ref()).unwrap()
    })
    .await
    .unwrap();
    assert!(receipts[0].rows_published > 10, "{:?}", receipts[0]);
    assert_eq!((receipts[1].rows_duplicate, receipts[1].rows_published), (10, 0), "{:?}", receipts[1]);
    assert_eq!(receipts[2].status, Status::Rejected, "{:?}", receipts[2]);
    assert!(receipts[2].issues[0].reason.contains("without a new record_version"), "{:?}", receipts[2].issues);
}
