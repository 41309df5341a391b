//! The lake fails under a running normaliser (directory made unwritable,
//! disk full): it must stop committing offsets, say why, and resume without
//! loss once the problem is fixed. And the dead-letter topic from the
//! operator's side: `vru dlq list`, a fix, `vru dlq replay`.
//!
//! Root ignores file modes, so "unwritable" is the immutable attribute
//! (`chattr +i`) and "disk full" a small tmpfs filled with ballast; both need
//! root, which CI has (the tests insist when scripts/test requires a broker).

mod common;

use common::backend::Backend;
use common::ids::*;
use common::procs::*;
use common::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vru_ingest::lake::Lake;

fn privileged(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(std::env::var_os("VRU_REQUIRE_BROKER").is_none(), "{what} needs root (chattr/mount); CI runs as root");
        eprintln!("SKIPPED: {what} needs root");
    }
    ok
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).status().is_ok_and(|s| s.success())
}

/// Every directory under `root`, deepest first.
fn dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in std::fs::read_dir(&out[i]).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out.reverse();
    out
}

/// The scenario both lake faults share: half the extracts reach the lake;
/// the lake breaks; the other half is published; the normaliser must not
/// advance (and must say so); the lake is fixed; everything arrives once.
async fn lake_breaks_and_recovers(test: &str, data: &Path, brokers: &str, brk: impl FnOnce(&Path), fix: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &small_city(41));
    let files = extract_files(&landing_dir(&summary));
    let expected = expected_ids(&files);
    let (first, second): (Vec<_>, Vec<_>) = files.iter().cloned().partition(|(p, _)| p.starts_with("police"));
    let d = Deployment::new(data, brokers, test);
    let ingest = |part: &[(String, PathBuf)]| {
        for (partner, f) in part {
            d.run(&["ingest", "--partner", partner, f.to_str().unwrap()]);
        }
    };
    let lake = d.lake();
    let mut normaliser = d.spawn(&["normalise"], "normalise.log");
    ingest(&first);
    let want_first = expected_ids(&first).len() as i64;
    eventually(Duration::from_secs(120), "first half in the lake", || {
        let lake = lake.clone();
        async move { lake_rows(&lake).await >= want_first }
    })
    .await;

    brk(&lake);
    ingest(&second);
    eventually(Duration::from_secs(60), "the normaliser reports the failing commit", || {
        let log = d.log("normalise.log");
        async move { log.contains("lake commit failed; offsets not advanced") }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stuck = lake_rows(&lake).await;
    let log = d.log("normalise.log");
    let line = log.lines().find(|l| l.contains("lake commit failed")).unwrap().to_string();
    eprintln!("{test}: lake held {stuck} of {} while broken; the normaliser said: {line}", expected.len());
    assert_eq!(stuck, want_first, "nothing is committed while the lake is broken");
    assert!(normaliser.try_wait().unwrap().is_none(), "the normaliser keeps running (retrying), it does not exit");

    fix(&lake);
    let want = expected.len() as i64;
    eventually(Duration::from_secs(120), "everything arrives after the fix", || {
        let lake = lake.clone();
        async move { lake_rows(&lake).await >= want }
    })
    .await;
    signal(&normaliser, "INT");
    assert!(wait_exit(&mut normaliser, Duration::from_secs(60), "normaliser").success(), "{}", d.log("normalise.log"));
    assert_eq!(lake_ids(&Lake::new(lake)).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_lake_stops_offsets_and_recovers() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    std::fs::create_dir(&probe).unwrap();
    let can = sh(&["chattr", "+i", probe.to_str().unwrap()]) && sh(&["chattr", "-i", probe.to_str().unwrap()]);
    if !privileged("the unwritable-lake test", can) {
        return;
    }
    let set = |lake: &Path, flag: &str| {
        for d in dirs(lake) {
            assert!(sh(&["chattr", flag, d.to_str().unwrap()]), "chattr {flag} {}", d.display());
        }
    };
    lake_breaks_and_recovers("unwritable", &dir.path().join("data"), &brokers, |l| set(l, "+i"), |l| set(l, "-i")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_stops_offsets_and_recovers() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lake = data.join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    if !privileged("the full-disk test", sh(&["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", lake.to_str().unwrap()])) {
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            sh(&["umount", "-l", self.0.to_str().unwrap()]);
        }
    }
    let _mounted = Unmount(lake.clone());
    let ballast = dir.path().join("ballast-name");
    let fill = |l: &Path| {
        // dd stops with "No space left on device": the disk is then full.
        let b = l.join("ballast");
        Command::new("dd").args(["if=/dev/zero", &format!("of={}", b.display()), "bs=1M"]).output().unwrap();
        std::fs::write(&ballast, b.to_str().unwrap()).unwrap();
        eprintln!("disk full: {} bytes of ballast", std::fs::metadata(&b).unwrap().len());
    };
    let free = |l: &Path| std::fs::remove_file(l.join("ballast")).unwrap();
    lake_breaks_and_recovers("diskfull", &data, &brokers, fill, free).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_after_a_fix() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = Deployment::new(&dir.path().join("data"), &brokers, "dlq").set("NORMALISER__MAX_MESSAGE_BYTES", "2048");
    let opts = vru_ingest::kafka::KafkaOptions { brokers: brokers.clone(), topic_prefix: d.prefix.clone(), ..Default::default() };
    vru_ingest::kafka::ensure_topics(&opts, None).await.unwrap();
    let producer: ThreadedProducer<DefaultProducerContext> = opts.client_config(&brokers).create().unwrap();
    let topic = opts.topic(vru_model::Source::Police);
    let ok = common::events::offence("ok-1").to_json();
    // A valid event padded past the limit (JSON allows the whitespace).
    let mut big = common::events::offence("big-1").to_json();
    big.extend(std::iter::repeat_n(b' ', 4096));
    let garbage = b"{\"event_id\": 12".to_vec();
    for p in [&ok, &big, &garbage] {
        producer.send(BaseRecord::<[u8], [u8]>::to(&topic).key(b"k".as_slice()).payload(p.as_slice())).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    d.run(&["normalise", "--until-idle"]);
    let list = String::from_utf8(d.run(&["dlq", "list"]).stdout).unwrap();
    eprintln!("vru dlq list:\n{list}");
    assert!(list.contains("over normaliser.max_message_bytes (2048)"), "{list}");
    assert!(list.contains("not a JSON event") || list.contains("EOF"), "{list}");
    assert_eq!(lake_rows(&d.lake()).await, 1);

    // The fix: a larger limit. Replay re-sends the original bytes.
    let fixed = d.set("NORMALISER__MAX_MESSAGE_BYTES", "1048576");
    let replay = String::from_utf8(fixed.run(&["dlq", "replay"]).stdout).unwrap();
    assert!(replay.contains("replayed 2 message(s)"), "{replay}");
    fixed.run(&["normalise", "--until-idle"]);
    let s = session(&fixed.lake(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_offences_log WHERE record_id IN ('ok-1', 'big-1')").await, 2);
    let list = String::from_utf8(fixed.run(&["dlq", "list"]).stdout).unwrap();
    assert_eq!(list.matches("max_message_bytes").count(), 1, "the big event was not dead-lettered again:\n{list}");
    assert!(list.lines().filter(|l| l.contains("EOF") || l.contains("not a JSON event")).count() >= 2, "garbage stays garbage:\n{list}");
}

/// Retention against a real broker: topics are created with their
/// `retention.ms` and the broker confirms it at start-up (DescribeConfigs);
/// a topic keeping messages for ever is lowered or, where the broker
/// cannot change it, the pipeline refuses to start, naming the topic and
/// the fix; dead letters past their date are deleted (DeleteRecords), and
/// only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_retention_is_checked_and_old_dead_letters_are_purged() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use vru_ingest::kafka::{self, DAY_MS, KafkaOptions};
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let prefix = |what: &str| format!("t{}-{what}", std::process::id());
    let opts = KafkaOptions { brokers: brokers.clone(), topic_prefix: prefix("ret"), partitions: 1, ..Default::default() };
    kafka::ensure_topics(&opts, None).await.expect("topics created with retention.ms and confirmed by the broker");
    let admin: AdminClient<DefaultClientContext> = opts.client_config(&brokers).create().unwrap();
    let described = admin.describe_configs(&[ResourceSpecifier::Topic(&opts.dlq_topic())], &AdminOptions::new()).await.unwrap();
    let value = described[0].as_ref().unwrap().get("retention.ms").and_then(|e| e.value.clone());
    assert_eq!(value, Some((14 * DAY_MS).to_string()), "the dead-letter topic keeps messages 14 days");

    // A topic someone created to keep messages for ever.
    let forever = KafkaOptions { topic_prefix: prefix("forever"), ..opts.clone() };
    let t = forever.dlq_topic();
    admin.create_topics(&[NewTopic::new(&t, 1, TopicReplication::Fixed(1)).set("retention.ms", "-1")], &AdminOptions::new()).await.unwrap();
    match kafka::ensure_topics(&forever, None).await {
        Err(e) => {
            let e = e.to_string();
            eprintln!("refused to start: {e}");
            assert!(e.contains(&t) && e.contains("for ever") && e.contains("kafka-configs"), "{e}");
        }
        Ok(()) => {
            eprintln!("the broker lowered the topic's retention");
            let d = admin.describe_configs(&[ResourceSpecifier::Topic(&t)], &AdminOptions::new()).await.unwrap();
            let v = d[0].as_ref().unwrap().get("retention.ms").and_then(|e| e.value.clone());
            assert_eq!(v, Some((14 * DAY_MS).to_string()), "started only after lowering the topic's retention");
        }
    }

    // Dead letters: 4 a month old, 3 from today; the purge keeps 14 days.
    let producer: ThreadedProducer<DefaultProducerContext> = opts.client_config(&brokers).create().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let dlq = opts.dlq_topic();
    for (i, age_days) in [30, 30, 29, 20, 0, 0, 0].into_iter().enumerate() {
        let payload = format!("dead letter {i}");
        let r = BaseRecord::<[u8], [u8]>::to(&dlq).partition(0).payload(payload.as_bytes()).timestamp(now - age_days * DAY_MS);
        producer.send(r).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let purged = kafka::purge_dead_letters(&opts, chrono::Utc::now() - chrono::Duration::days(14)).await.unwrap();
    assert_eq!(purged, 4);
    let consumer: BaseConsumer = opts.client_config(&brokers).set("group.id", "t").create().unwrap();
    assert_eq!(consumer.fetch_watermarks(&opts.dlq_topic(), 0, Duration::from_secs(10)).unwrap(), (4, 7));
    assert_eq!(kafka::purge_dead_letters(&opts, chrono::Utc::now() - chrono::Duration::days(14)).await.unwrap(), 0, "idempotent");
}
