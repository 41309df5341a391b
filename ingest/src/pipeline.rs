//! Ingest and normaliser together in one process: the single-machine
//! deployment (`vru run`) and the demo. With the embedded broker a file
//! counts as ingested only when its events are in the lake, because the
//! broker forgets everything when the process stops; with a real broker,
//! when the broker has acknowledged them.

pub use crate::error::PipelineError;
use crate::extract::{ExtractJob, ExtractRules, KnownEvents, LAKE_TIMEOUT, NothingKnown};
use crate::kafka::{self, EmbeddedBroker, KafkaOptions};
use crate::lake::Lake;
use crate::landing::{Ingested, Landing};
use crate::normaliser::{Normaliser, NormaliserOptions, Stats};
use crate::producer::{ConfirmBy, KafkaSink};
use crate::sink::EventSink;
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vru_model::classification::Catalogue;
use vru_model::receipt::Receipt;

#[derive(Debug, Clone)]
pub struct LandingOptions {
    pub root: PathBuf,
    /// Process what is there, then stop (instead of watching).
    pub once: bool,
    /// A file must be unchanged this long before it is read.
    pub settle: Duration,
    pub poll: Duration,
}

/// The `[landing]` section of the configuration, in milliseconds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LandingConfig {
    /// A file must be unchanged this long before it is read.
    pub settle_ms: u64,
    /// How often the landing folder is scanned.
    pub poll_ms: u64,
}

impl Default for LandingConfig {
    fn default() -> Self {
        LandingConfig { settle_ms: 2_000, poll_ms: 1_000 }
    }
}

impl LandingConfig {
    /// The options of a sweep (`once`) or a watch of `root`.
    pub fn options(&self, root: PathBuf, once: bool) -> LandingOptions {
        LandingOptions { root, once, settle: Duration::from_millis(self.settle_ms), poll: Duration::from_millis(self.poll_ms) }
    }
}

/// The `[pipeline]` section of the configuration.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// host:port for Prometheus `/metrics` and `/health` of `vru run`,
    /// `vru ingest` and `vru normalise` (receipts by partner and status,
    /// rows, messages by outcome, dead letters, commits and their
    /// durations, lag per partition). None: not served.
    pub metrics_listen: Option<String>,
}

/// What the ingest side reads.
#[derive(Debug, Clone)]
pub enum Work {
    /// A landing folder (one sub-folder per partner).
    Landing(LandingOptions),
    /// Given files of given partners; each receipt is written beside its
    /// file. `kind` overrides the extract kind the file name would give.
    Files { files: Vec<(String, PathBuf)>, kind: Option<vru_model::ExtractKind> },
}

/// Ingests given files, each with its partner, writing `<file>.receipt.json`
/// (and `<file>.rejected-rows.csv` for bad rows) beside each once its events
/// are durable. Blocking.
pub fn ingest_files(
    files: &[(String, PathBuf)],
    kind: Option<vru_model::ExtractKind>,
    sink: &mut dyn EventSink,
    rules: &ExtractRules,
    catalogue: &Catalogue,
    known: &dyn KnownEvents,
) -> Result<Vec<Receipt>, PipelineError> {
    let mut published = Vec::new();
    for (partner, path) in files {
        let quarantine = sibling(path, "rejected-rows.csv");
        let job = ExtractJob::new(path, partner, catalogue, rules, chrono::Utc::now()).quarantine(&quarantine).kind(kind).known(known);
        published.push((path, job.run_unsettled(sink)?));
    }
    let mut receipts = Vec::new();
    for (path, (receipt, awaiting)) in published {
        if let Some(offsets) = awaiting {
            sink.wait_durable(&offsets, LAKE_TIMEOUT)?;
        }
        let receipt_path = sibling(path, "receipt.json");
        std::fs::write(&receipt_path, serde_json::to_vec_pretty(&receipt).expect("receipt serialises"))
            .map_err(|source| PipelineError::Landing { path: receipt_path.display().to_string(), source })?;
        crate::metrics::global().receipt(&receipt);
        receipts.push(receipt);
    }
    Ok(receipts)
}

/// Reads each file exactly as ingest would and says what would happen,
/// publishing nothing and writing nothing: what a partner's data officer
/// runs before sending. The lake is not asked (nothing is known).
pub fn check_files(
    files: &[(String, PathBuf)],
    kind: Option<vru_model::ExtractKind>,
    rules: &ExtractRules,
    catalogue: &Catalogue,
) -> Vec<Receipt> {
    files
        .iter()
        .map(|(partner, path)| {
            let mut sink = crate::sink::NullSink::default();
            let job = ExtractJob::new(path, partner, catalogue, rules, chrono::Utc::now()).kind(kind);
            let mut r = job.run(&mut sink).expect("a null sink never fails");
            r.confirmed_by = String::new();
            r
        })
        .collect()
}

/// `dir/name.csv` -> `dir/name.csv.<suffix>`
fn sibling(path: &std::path::Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{name}.{suffix}"))
}

pub struct PipelineReport {
    pub receipts: Vec<Receipt>,
    pub normaliser: Option<Stats>,
    pub elapsed: Duration,
}

/// Files published but not yet filed away, at most: bounds what a crash
/// makes the pipeline read again.
const MAX_UNSETTLED: usize = 64;

/// Receipts a watching ingest keeps to return when it stops: the latest
/// ones. Every receipt is also written beside its file, logged and
/// counted ([`crate::metrics`]), so a service watching for months does not
/// hold them all in memory.
const MAX_KEPT_RECEIPTS: usize = 1000;

/// What the lake says before a sweep: the extracts it holds, and a reader
/// of the events it holds for checking each file. Without a lake (or when
/// it cannot be read at start), nothing is known and the normaliser's
/// event-id check is what keeps re-sent rows out.
pub fn lake_knowledge(lake: Option<&Lake>) -> (HashSet<String>, Box<dyn KnownEvents + Send + Sync>) {
    let Some(lake) = lake else { return (HashSet::new(), Box::new(NothingKnown)) };
    let handle = tokio::runtime::Handle::current();
    let accepted = match handle.block_on(crate::lake::accepted_extracts(lake)) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the lake's extract receipts; files already ingested will be recognised by their event ids instead");
            HashSet::new()
        }
    };
    (accepted, Box::new(crate::lake::LakeKnown::new(lake.clone(), handle)))
}

fn log_receipt(r: &Receipt) {
    crate::metrics::global().receipt(r);
    tracing::info!(file = %r.file, partner = %r.partner, status = r.status.as_str(), rows_read = r.rows_read,
        rows_published = r.rows_published, rows_rejected = r.rows_rejected, "extract ingested");
    for line in r.issue_lines().iter().take(5) {
        tracing::warn!("{line}");
    }
}

/// Watches (or sweeps once) the landing folder and publishes every file
/// through `sink`, until `stop` is set. Files are published one after
/// another without waiting for the lake; each is filed away once its
/// events are durable. Nothing one file or one partner folder does stops
/// the loop: a broken file is refused or left in place and logged, and only
/// a broker that keeps failing ends a one-off sweep. Blocking: run it on
/// its own thread.
pub fn ingest_landing(
    opts: &LandingOptions,
    sink: &mut dyn EventSink,
    rules: &ExtractRules,
    catalogue: &Catalogue,
    stop: &AtomicBool,
    lake: Option<&Lake>,
) -> Result<Vec<Receipt>, PipelineError> {
    let lerr = |source| PipelineError::Landing { path: opts.root.display().to_string(), source };
    let (accepted, known) = lake_knowledge(lake);
    let mut landing = Landing::open(&opts.root, opts.settle, accepted).map_err(lerr)?;
    let mut receipts = Vec::new();
    let mut unsettled: VecDeque<Ingested> = VecDeque::new();
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        settle(&mut landing, &mut unsettled, sink, false, &mut receipts);
        let in_flight: HashSet<PathBuf> = unsettled.iter().map(|u| u.candidate.path.clone()).collect();
        let scan = landing.scan();
        let mut progressed = false;
        for r in &scan.refuse {
            if let Some(receipt) = landing.refuse(r) {
                log_receipt(&receipt);
                receipts.push(receipt);
                progressed = true;
            }
        }
        for c in scan.ready.iter().filter(|c| !in_flight.contains(&c.path)) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if unsettled.len() >= MAX_UNSETTLED {
                settle(&mut landing, &mut unsettled, sink, true, &mut receipts);
            }
            match landing.ingest(c, sink, catalogue, rules, known.as_ref()) {
                Ok(Some(done)) => {
                    unsettled.push_back(done);
                    progressed = true;
                }
                Ok(None) => {}
                Err(e) => {
                    failures += 1;
                    tracing::error!(file = %c.shown, partner = %c.partner, error = %e, "extract not ingested; will retry");
                    if opts.once && failures >= 3 {
                        settle(&mut landing, &mut unsettled, sink, true, &mut receipts);
                        return Err(e.into());
                    }
                }
            }
        }
        if opts.once && !progressed && scan.settling == 0 {
            if unsettled.is_empty() {
                break;
            }
            settle(&mut landing, &mut unsettled, sink, true, &mut receipts);
            continue;
        }
        if !opts.once && receipts.len() > MAX_KEPT_RECEIPTS {
            receipts.drain(..receipts.len() - MAX_KEPT_RECEIPTS);
        }
        if !progressed {
            std::thread::sleep(opts.poll);
        }
    }
    // Stopping: what is durable is filed away; the rest is read again.
    settle(&mut landing, &mut unsettled, sink, false, &mut receipts);
    Ok(receipts)
}

/// Files away, in order, every published file whose events are durable
/// (waiting for them when `block`). One that does not become durable in
/// time is left in place to be read again.
fn settle(landing: &mut Landing, unsettled: &mut VecDeque<Ingested>, sink: &dyn EventSink, block: bool, receipts: &mut Vec<Receipt>) {
    while let Some(front) = unsettled.front() {
        if let Some(offsets) = &front.awaiting {
            if !block && !sink.is_durable(offsets) {
                break;
            }
            if let Err(e) = sink.wait_durable(offsets, LAKE_TIMEOUT) {
                let done = unsettled.pop_front().expect("front exists");
                tracing::error!(file = %done.candidate.shown, partner = %done.candidate.partner, error = %e, "left in place: its events did not reach the lake in time; it will be read again");
                done.abandon();
                continue;
            }
        }
        match landing.file_away(unsettled.pop_front().expect("front exists")) {
            Ok(r) => {
                log_receipt(&r);
                receipts.push(r);
            }
            Err(e) => tracing::error!(error = %e, "extract published but not filed away; the next sweep finds it a duplicate and files it"),
        }
    }
}

/// Runs ingest and the normaliser side by side until the landing folder is
/// swept (`once`) or `shutdown` resolves.
pub async fn run(
    lake: &Lake,
    kafka_opts: &KafkaOptions,
    embedded: Option<&EmbeddedBroker>,
    work: Work,
    normaliser_opts: NormaliserOptions,
    rules: ExtractRules,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<PipelineReport, PipelineError> {
    let started = Instant::now();
    let bootstrap = embedded.map_or_else(|| kafka_opts.brokers.clone(), EmbeddedBroker::bootstrap_servers);
    kafka::ensure_topics(kafka_opts, embedded).await?;
    let mut normaliser_opts = normaliser_opts;
    if let Some(b) = embedded {
        normaliser_opts.cluster_identity = Some(b.identity().to_string());
    }
    let mut normaliser = Normaliser::start(lake, kafka_opts, &bootstrap, normaliser_opts).await?;
    let confirm_by = if embedded.is_some() {
        ConfirmBy::Lake { watermarks: normaliser.watermarks(), read: normaliser.read_positions() }
    } else {
        ConfirmBy::Broker
    };
    let sink = KafkaSink::new(kafka_opts, &bootstrap, confirm_by)?;

    let (stop_norm_tx, stop_norm_rx) = tokio::sync::oneshot::channel::<()>();
    let norm_task = tokio::spawn(async move {
        let r = normaliser
            .run(
                async {
                    let _ = stop_norm_rx.await;
                },
                false,
            )
            .await;
        (r, normaliser)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stop_ingest = stop.clone();
    let lake_for_ingest = lake.clone();
    let ingest_task = tokio::task::spawn_blocking(move || match work {
        Work::Landing(landing) => {
            let mut sink = sink;
            ingest_landing(&landing, &mut sink, &rules, &Catalogue::builtin(), &stop_ingest, Some(&lake_for_ingest))
        }
        Work::Files { files, kind } => {
            let mut sink = sink;
            let (_, known) = lake_knowledge(Some(&lake_for_ingest));
            ingest_files(&files, kind, &mut sink, &rules, &Catalogue::builtin(), known.as_ref())
        }
    });
    tokio::pin!(shutdown);
    tokio::pin!(ingest_task);
    let receipts = tokio::select! {
        r = &mut ingest_task => r,
        _ = &mut shutdown => {
            stop.store(true, Ordering::Relaxed);
            ingest_task.await
        }
    };
    let _ = stop_norm_tx.send(());
    let (norm_result, _normaliser) = norm_task.await.map_err(|e| PipelineError::Task(e.to_string()))?;
    let receipts = receipts.map_err(|e| PipelineError::Task(e.to_string()))??;
    let stats = norm_result?;
    Ok(PipelineReport { receipts, normaliser: Some(stats), elapsed: started.elapsed() })
}
