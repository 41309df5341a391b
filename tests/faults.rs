//! Faults a production deployment sees, against the real broker (nisshi,
//! started by scripts/test) with `vru` running as separate processes:
//! the normaliser killed with SIGKILL again and again, ingest killed
//! mid-extract, the broker stopped and restarted. After each, the lake holds
//! exactly the events the extracts hold, compared event id by event id.
//! (Lake faults and the dead-letter CLI are in `lake_faults.rs`.)

mod common;

use common::backend::Backend;
use common::ids::*;
use common::procs::*;
use common::*;
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;
use vru_synth::CityConfig;

/// About 220,000 events: the "100,000+ streaming through" of the issue.
fn city() -> CityConfig {
    CityConfig { seed: 7, ..CityConfig::default() }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Rows the normaliser's log says it committed (all runs appended).
fn committed(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("committed to lake"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("rows=")).and_then(|n| n.parse::<usize>().ok()))
        .sum()
}

/// Messages in a topic (sum of high watermarks), asked of the broker.
fn in_topic(brokers: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let parts: Vec<i32> = md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    parts.iter().map(|p| c.fetch_watermarks(topic, *p, Duration::from_secs(10)).map(|(_, hi)| hi).unwrap_or(0)).sum()
}

fn big_extract(source: &std::path::Path, out: &std::path::Path, mb: u32) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/big-extract");
    let ok = std::process::Command::new(script).args([source.to_str().unwrap(), out.to_str().unwrap(), &mb.to_string()]).status().unwrap();
    assert!(ok.success(), "scripts/big-extract");
}

/// Waits until `n` messages are in `topic`, while the ingest process that
/// sends them is still running (the fault must land mid-stream).
async fn until_in_topic(ingest: &mut std::process::Child, d: &Deployment, brokers: &str, topic: &str, n: i64, fault: &str) {
    let begun = Instant::now();
    while in_topic(brokers, topic) < n {
        assert!(ingest.try_wait().unwrap().is_none(), "ingest ended before the {fault}:\n{}", d.log("ingest.log"));
        assert!(begun.elapsed() < Duration::from_secs(120), "ingest published nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A deterministic "random" sleep between `lo` and `hi` ms (xorshift), so a
/// failure can be replayed with the same kill points.
fn pause(state: &mut u64, lo: u64, hi: u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    Duration::from_millis(lo + *state % (hi - lo))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normaliser_killed_five_times_loses_and_duplicates_nothing() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &city());
    let files = extract_files(&landing_dir(&summary));
    let expected = expected_ids(&files);
    assert!(expected.len() >= 100_000, "{} events", expected.len());
    let d = Deployment::new(&dir.path().join("data"), &brokers, "kill");
    let landing = landing_dir(&summary);

    let started = Instant::now();
    let mut ingest = d.spawn(&["ingest", "--watch", landing.to_str().unwrap(), "--once"], "ingest.log");
    // Kill at random points: five random fractions of the stream, each
    // reached (by the rows the normaliser reports committed) and then a
    // random 0-400 ms more, so the kill lands anywhere in a batch.
    let mut seed = 0x5eed_u64;
    let mut targets: Vec<usize> = (0..5).map(|_| expected.len() * (5 + pause(&mut seed, 0, 85).as_millis() as usize) / 100).collect();
    targets.sort();
    let mut kills = Vec::new();
    for (round, target) in targets.iter().enumerate() {
        let mut n = d.spawn(&["normalise"], "normalise.log");
        let begun = Instant::now();
        while committed(&d.log("normalise.log")) < *target {
            assert!(n.try_wait().unwrap().is_none(), "round {round}: the normaliser exited by itself:\n{}", d.log("normalise.log"));
            assert!(
                begun.elapsed() < Duration::from_secs(300),
                "round {round}: {target} rows not reached\ningest:\n{}\nnormaliser:\n{}",
                tail(&d.log("ingest.log")),
                tail(&d.log("normalise.log"))
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(pause(&mut seed, 1, 400)).await;
        n.kill().unwrap(); // SIGKILL
        n.wait().unwrap();
        let rows = lake_rows(&d.lake()).await;
        eprintln!("kill {}: after {:?} running; lake holds {rows} of {} events", round + 1, begun.elapsed(), expected.len());
        kills.push(rows);
    }
    assert!(kills.iter().all(|r| (*r as usize) < expected.len()), "every kill lands mid-stream: {kills:?}");
    assert_eq!(kills.len(), 5, "five kills must land mid-stream: {kills:?}");
    assert!(kills.windows(2).all(|w| w[0] <= w[1]), "the lake never shrinks: {kills:?}");
    let status = wait_exit(&mut ingest, Duration::from_secs(600), "ingest");
    assert!(status.success(), "ingest failed:\n{}", d.log("ingest.log"));

    d.run(&["normalise", "--until-idle"]);
    let ids = lake_ids(&Lake::new(d.lake())).await;
    eprintln!("after 5 kills and a final run: {} in lake, {} expected, {:?} overall", ids.len(), expected.len(), started.elapsed());
    assert_eq!(ids.len(), expected.len(), "no loss, no duplicate");
    assert_eq!(ids, expected);
}

/// Three normalisers share one lake, each owning a third of the sources
/// (`--sources`), and are SIGKILLed at random and restarted while ingest
/// streams: they write disjoint tables, so none conflicts with another,
/// and the lake ends with exactly the events of the extracts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_normalisers_on_one_lake_killed_at_random_lose_and_duplicate_nothing() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    three_normalisers_killed(&brokers, None).await;
}

/// The same on a lake in S3-compatible storage: the normalisers' commits
/// are conditional puts there, and still none conflicts or is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_normalisers_on_one_s3_lake_killed_at_random_lose_and_duplicate_nothing() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let Some(s3) = common::s3::S3::from_env() else { return };
    three_normalisers_killed(&brokers, Some(s3.address("three"))).await;
}

async fn three_normalisers_killed(brokers: &str, lake: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &city());
    let files = extract_files(&landing_dir(&summary));
    let expected = expected_ids(&files);
    let mut d = Deployment::new(&dir.path().join("data"), brokers, if lake.is_some() { "three-s3" } else { "three" });
    if let Some(address) = &lake {
        d = d.on_lake(address);
    }
    let landing = landing_dir(&summary);
    let mut owners = vec![Vec::new(); 3];
    for (i, s) in vru_model::Source::ALL.iter().enumerate() {
        owners[i % 3].push(s.as_str());
    }
    let owners: Vec<String> = owners.iter().map(|o| o.join(",")).collect();
    let log = |i: usize| format!("normalise-{i}.log");
    let spawn = |i: usize| d.spawn(&["normalise", "--sources", &owners[i]], &log(i));

    let mut ingest = d.spawn(&["ingest", "--watch", landing.to_str().unwrap(), "--once"], "ingest.log");
    let mut running: Vec<_> = (0..3).map(spawn).collect();
    // Six kills at random points of the stream (rows the three logs report
    // committed), each a random 1-400 ms later; each normaliser twice.
    let mut seed = 0x3_5eed_u64;
    let mut targets: Vec<usize> = (0..6).map(|_| expected.len() * (5 + pause(&mut seed, 0, 85).as_millis() as usize) / 100).collect();
    targets.sort();
    let mut kills = Vec::new();
    let begun = Instant::now();
    for target in targets {
        while (0..3).map(|j| committed(&d.log(&log(j)))).sum::<usize>() < target {
            for (j, n) in running.iter_mut().enumerate() {
                assert!(n.try_wait().unwrap().is_none(), "normaliser {j} exited by itself:\n{}", tail(&d.log(&log(j))));
            }
            assert!(begun.elapsed() < Duration::from_secs(300), "{target} rows not reached:\n{}", tail(&d.log("ingest.log")));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(pause(&mut seed, 1, 400)).await;
        let i = kills.len() % 3;
        running[i].kill().unwrap(); // SIGKILL
        running[i].wait().unwrap();
        kills.push((i, lake_rows_of(&d.handle()).await));
        running[i] = spawn(i);
    }
    let status = wait_exit(&mut ingest, Duration::from_secs(600), "ingest");
    assert!(status.success(), "ingest failed:\n{}", d.log("ingest.log"));
    for n in running.iter_mut() {
        n.kill().unwrap();
        n.wait().unwrap();
    }
    eprintln!("kills (normaliser, lake rows then): {kills:?} of {} events", expected.len());
    assert!(kills.iter().all(|(_, rows)| (*rows as usize) < expected.len()), "every kill lands mid-stream: {kills:?}");
    for o in &owners {
        d.run(&["normalise", "--until-idle", "--sources", o]);
    }
    for i in 0..3 {
        assert!(!d.log(&log(i)).contains("two normalisers are writing this lake"), "normaliser {i} conflicted");
    }
    let ids = lake_ids(&d.handle()).await;
    assert_eq!(ids.len(), expected.len(), "no loss, no duplicate");
    assert_eq!(ids, expected);
    if lake.is_some() {
        assert!(!d.lake().exists(), "nothing of an S3 lake on local disk");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_killed_mid_extract_completes_on_rerun_without_duplicates() {
    let Some(Backend::Real(brokers)) = Backend::real() else { return };
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &small_city(32));
    // One 40 MB police extract (~190,000 rows, scripts/big-extract), killed
    // part-way through.
    let files = extract_files(&landing_dir(&summary));
    let (partner, source) =
        files.iter().find(|(p, f)| p.starts_with("police") && f.to_string_lossy().contains("offences")).unwrap().clone();
    let big = dir.path().join("offences_2024-06-01.csv");
    big_extract(&source, &big, 40);
    let expected = expected_ids(&[(partner.clone(), big.clone())]);
    let d = Deployment::new(&dir.path().join("data"), &brokers, "ingestkill");
    let args = ["ingest", "--partner", &partner, big.to_str().unwrap()];

    let mut first = d.spawn(&args, "ingest.log");
    // Kill once a fifth of the rows are in the topic.
    let topic = format!("{}.police", d.prefix);
    let begun = Instant::now();
    until_in_topic(&mut first, &d, &brokers, &topic, expected.len() as i64 / 5, "kill").await;
    first.kill().unwrap();
    first.wait().unwrap();
    d.run(&["normalise", "--until-idle"]);
    let partial = lake_ids(&Lake::new(d.lake())).await.len();
    eprintln!("ingest killed after {:?}: {partial} of {} events had reached Kafka", begun.elapsed(), expected.len());
    assert!(partial > 0 && partial < expected.len(), "the kill must land mid-extract: {partial}");

    d.run(&args);
    d.run(&["normalise", "--until-idle"]);
    let ids = lake_ids(&Lake::new(d.lake())).await;
    assert_eq!(ids, expected, "the rerun completes the extract; the overlap is not duplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_and_restarted_mid_stream() {
    if !nisshi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &small_city(31));
    let landing = landing_dir(&summary);
    // Plus one 40 MB extract, so the outage lands while ingest is producing.
    let police = landing.join("police-northshire");
    let source =
        std::fs::read_dir(&police).unwrap().flatten().map(|e| e.path()).find(|p| p.to_string_lossy().contains("offences")).unwrap();
    big_extract(&source, &police.join("offences_2024-06-01.csv"), 40);
    let files = extract_files(&landing);
    let expected = expected_ids(&files);
    // Durable storage, so what the broker acknowledged survives its restart.
    let mut broker = OwnBroker::start(&dir.path().join("broker"), "sqlite://broker.db");
    let d = Deployment::new(&dir.path().join("data"), &broker.address(), "restart").set("KAFKA__MESSAGE_TIMEOUT_MS", "120000");

    let mut ingest = d.spawn(&["ingest", "--watch", landing.to_str().unwrap(), "--once"], "ingest.log");
    let mut normaliser = d.spawn(&["normalise"], "normalise.log");
    let topic = format!("{}.police", d.prefix);
    until_in_topic(&mut ingest, &d, &broker.address(), &topic, 40_000, "outage").await;
    let before = in_topic(&broker.address(), &topic);
    broker.down();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(ingest.try_wait().unwrap().is_none(), "ingest waits for the broker rather than failing:\n{}", d.log("ingest.log"));
    broker.up();
    eprintln!("broker down for {:?} with {before} police events in the topic, of {} events", down_at.elapsed(), expected.len());

    let status = wait_exit(&mut ingest, Duration::from_secs(600), "ingest");
    assert!(status.success(), "ingest failed:\n{}", d.log("ingest.log"));
    let lake = d.lake();
    let want = expected.len() as i64;
    eventually(Duration::from_secs(300), "normaliser catches up after the restart", || {
        let lake = lake.clone();
        async move { lake_rows(&lake).await >= want }
    })
    .await;
    signal(&normaliser, "INT");
    assert!(wait_exit(&mut normaliser, Duration::from_secs(60), "normaliser").success(), "{}", d.log("normalise.log"));
    assert_eq!(lake_ids(&Lake::new(d.lake())).await, expected);
}

/// Resident memory of a process, from /proc.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// A broker that stops answering (SIGSTOP) while ingest is producing: the
/// producer's queue is bounded, so ingest waits with flat memory instead
/// of reading on and buffering the rest of the file; it resumes when the
/// broker does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_broker_makes_the_producer_wait() {
    if !nisshi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&dir.path().join("city"), &small_city(33));
    let files = extract_files(&landing_dir(&summary));
    let (partner, source) =
        files.iter().find(|(p, f)| p.starts_with("police") && f.to_string_lossy().contains("offences")).unwrap().clone();
    let big = dir.path().join("offences_2024-06-01.csv");
    big_extract(&source, &big, 40);
    let expected = expected_ids(&[(partner.clone(), big.clone())]);
    let broker = OwnBroker::start(&dir.path().join("broker"), "memory://nisshi/");
    let d = Deployment::new(&dir.path().join("data"), &broker.address(), "slow").set("KAFKA__QUEUE_MAX_KBYTES", "4096");
    let mut ingest = d.spawn(&["ingest", "--partner", &partner, big.to_str().unwrap()], "ingest.log");
    let topic = format!("{}.police", d.prefix);
    until_in_topic(&mut ingest, &d, &broker.address(), &topic, expected.len() as i64 / 5, "stall").await;
    let pid = std::fs::read_to_string(broker.dir.join("broker.pid")).unwrap().trim().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_stall = rss_kb(ingest.id());
    let mut peak = at_stall;
    for _ in 0..24 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kb(ingest.id()));
    }
    let still_running = ingest.try_wait().unwrap().is_none();
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    eprintln!("broker stalled 7 s: ingest RSS {at_stall} kB at 1 s, peak {peak} kB over the next 6 s");
    assert!(still_running, "ingest waits for a stalled broker:\n{}", d.log("ingest.log"));
    assert!(peak < at_stall + 16 * 1024, "memory grew while the broker stalled: {at_stall} -> {peak} kB");
    assert!(wait_exit(&mut ingest, Duration::from_secs(300), "ingest").success(), "{}", d.log("ingest.log"));
    d.run(&["normalise", "--until-idle"]);
    assert_eq!(lake_ids(&Lake::new(d.lake())).await, expected);
}
