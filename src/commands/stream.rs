//! Commands that move events: `ingest`, `normalise`, `run`, `dlq`.

use crate::config::Config;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use vru_ingest::kafka::{self, EmbeddedBroker};
use vru_ingest::normaliser::Normaliser;
use vru_ingest::pipeline::{self, LandingOptions, PipelineReport, Work};
use vru_ingest::producer::{ConfirmBy, KafkaSink};
use vru_model::classification::Catalogue;
use vru_model::receipt::Status;

#[derive(Args)]
pub struct IngestArgs {
    /// Extract files to ingest (their partner from --partner or the folder name).
    pub files: Vec<PathBuf>,
    /// The partner the files come from (e.g. police-northshire).
    #[arg(long)]
    pub partner: Option<String>,
    /// Watch a landing folder (one sub-folder per partner) instead of files.
    #[arg(long)]
    pub watch: Option<PathBuf>,
    /// With --watch: ingest what is there, then stop.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus `/metrics` and `/health` on this host:port
    /// (default: pipeline.metrics_listen; none).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// `police-uk`: the files are data.police.uk street-level CSVs (partner
    /// defaults to police_uk-public).
    #[arg(long)]
    pub format: Option<String>,
    /// Check the files as ingest would and print their receipts; publish
    /// nothing, write nothing (what a partner runs before sending).
    #[arg(long)]
    pub check: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// Landing folder (default from configuration: <data_dir>/landing).
    #[arg(long)]
    pub watch: Option<PathBuf>,
    /// Ingest what is there, then stop.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus `/metrics` and `/health` on this host:port
    /// (default: pipeline.metrics_listen; none).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Args)]
pub struct NormaliseArgs {
    /// Stop when every partition has been read to its end.
    #[arg(long)]
    pub until_idle: bool,
    /// Serve Prometheus `/metrics` and `/health` on this host:port
    /// (default: pipeline.metrics_listen; none).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Only these sources' topics and tables, comma-separated (default:
    /// normaliser.sources; all). Several normalisers share a lake when
    /// each owns different sources.
    #[arg(long, value_delimiter = ',', value_parser = parse_source)]
    pub sources: Vec<vru_model::Source>,
}

fn parse_source(s: &str) -> Result<vru_model::Source, String> {
    vru_model::Source::parse(s).ok_or_else(|| {
        let known: Vec<&str> = vru_model::Source::ALL.iter().map(|s| s.as_str()).collect();
        format!("no source `{s}`; the sources are {}", known.join(", "))
    })
}

/// Serves the pipeline's counters ([`vru_ingest::metrics`]) while the
/// command runs, on `flag` or else `pipeline.metrics_listen`.
async fn serve_metrics(config: &Config, flag: Option<SocketAddr>) -> anyhow::Result<()> {
    let addr = match flag {
        Some(a) => a,
        None => match config.pipeline.metrics_listen.as_deref() {
            Some(a) => a.parse().with_context(|| format!("pipeline.metrics_listen `{a}` is not host:port"))?,
            None => return Ok(()),
        },
    };
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let at = listener.local_addr()?;
    tokio::spawn(vru_server::metrics::serve_text(listener, std::sync::Arc::new(|| vru_ingest::metrics::global().text())));
    eprintln!("metrics on http://{at}/metrics, health on http://{at}/health");
    Ok(())
}

fn landing_options(config: &Config, dir: Option<PathBuf>, once: bool) -> LandingOptions {
    config.landing.options(dir.unwrap_or_else(|| config.landing_dir()), once)
}

fn files_work(a: &IngestArgs) -> anyhow::Result<Work> {
    let kind = match a.format.as_deref() {
        None | Some("csv") => None,
        Some("police-uk") => Some(vru_model::ExtractKind::StreetCrimes),
        Some(other) => bail!("unknown --format `{other}`: use police-uk, or leave it out for partner extracts"),
    };
    let files = a
        .files
        .iter()
        .map(|f| {
            let partner = match (&a.partner, kind) {
                (Some(p), _) => p.clone(),
                (None, Some(_)) => vru_model::sources::police_uk::PUBLIC_PARTNER.to_string(),
                (None, None) => f.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            };
            vru_model::Source::of_partner(&partner)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{}: name the partner with --partner", f.display()))?;
            Ok((partner, f.clone()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Work::Files { files, kind })
}

/// [`super::stop_signal`], logged as what stopping means here.
async fn ctrl_c() {
    super::stop_signal().await;
    tracing::info!("stopping: finishing the current file and flushing the lake");
}

/// Without --brokers, ingest needs the normaliser in the same process (the
/// embedded broker dies with it), so it runs the whole pipeline.
pub async fn ingest(config: &Config, a: IngestArgs) -> anyhow::Result<()> {
    if !a.check {
        serve_metrics(config, a.metrics_listen).await?;
    }
    if a.check {
        let Work::Files { files, kind } = files_work(&a)? else { unreachable!("files_work gives files") };
        let receipts = pipeline::check_files(&files, kind, &config.extract, &Catalogue::builtin());
        print_receipts(&receipts);
        let refused = receipts.iter().filter(|r| r.status == Status::Rejected).count();
        if refused > 0 {
            bail!("{refused} of {} files would be refused", receipts.len());
        }
        return Ok(());
    }
    let work = match (&a.watch, a.files.is_empty()) {
        (Some(dir), true) => Work::Landing(landing_options(config, Some(dir.clone()), a.once)),
        (None, false) => files_work(&a)?,
        _ => bail!("give extract files, or --watch DIR, not both"),
    };
    if config.kafka.is_embedded() {
        return run_pipeline(config, work).await;
    }
    super::retention::check_kafka(config)?;
    kafka::ensure_topics(&config.kafka, None).await?;
    let sink = KafkaSink::new(&config.kafka, &config.kafka.brokers, ConfirmBy::Broker)?;
    let rules = config.extract.clone();
    // The lake, when this machine can read it, says what was ingested before.
    let lake = config.lake()?;
    let receipts = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let cat = Catalogue::builtin();
        Ok(match work {
            Work::Landing(l) => {
                let stop = std::sync::atomic::AtomicBool::new(false);
                let mut sink = sink;
                pipeline::ingest_landing(&l, &mut sink, &rules, &cat, &stop, Some(&lake))?
            }
            Work::Files { files, kind } => {
                let mut sink = sink;
                let (_, known) = pipeline::lake_knowledge(Some(&lake));
                pipeline::ingest_files(&files, kind, &mut sink, &rules, &cat, known.as_ref())?
            }
        })
    })
    .await??;
    print_receipts(&receipts);
    Ok(())
}

pub async fn run(config: &Config, a: RunArgs) -> anyhow::Result<()> {
    serve_metrics(config, a.metrics_listen).await?;
    run_pipeline(config, Work::Landing(landing_options(config, a.watch, a.once))).await
}

async fn run_pipeline(config: &Config, work: Work) -> anyhow::Result<()> {
    let report = run_embedded_or_real(config, work).await?;
    print_receipts(&report.receipts);
    if let Some(s) = &report.normaliser {
        eprintln!(
            "normaliser: {} messages, {} events written, {} duplicates dropped, {} dead-lettered, {} commits in {:.1}s",
            s.messages,
            s.events_written,
            s.duplicates_dropped,
            s.dead_lettered,
            s.commits,
            report.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// Starts the embedded broker when no brokers are configured and runs the
/// pipeline until the work is done or Ctrl-C.
pub async fn run_embedded_or_real(config: &Config, work: Work) -> anyhow::Result<PipelineReport> {
    super::retention::check_kafka(config)?;
    let lake = config.lake()?;
    let embedded = if config.kafka.is_embedded() { Some(EmbeddedBroker::start()?) } else { None };
    let report =
        pipeline::run(&lake, &config.kafka, embedded.as_ref(), work, config.normaliser.clone(), config.extract.clone(), ctrl_c()).await?;
    Ok(report)
}

fn print_receipts(receipts: &[vru_model::receipt::Receipt]) {
    for r in receipts {
        println!(
            "{:<26} {:<40} {:<24} read {:>7} published {:>7} rejected {:>5} duplicate {:>5}",
            r.partner,
            r.file,
            r.status.as_str(),
            r.rows_read,
            r.rows_published,
            r.rows_rejected,
            r.rows_duplicate
        );
        for line in r.issue_lines().iter().take(if r.status == Status::Rejected { 20 } else { 5 }) {
            println!("    {line}");
        }
    }
}

pub async fn normalise(config: &Config, a: NormaliseArgs) -> anyhow::Result<()> {
    if config.kafka.is_embedded() {
        bail!(
            "`vru normalise` reads a real Kafka: give --brokers HOST:PORT. Without Kafka, `vru run` runs ingest and normaliser together on the embedded broker"
        );
    }
    super::retention::check_kafka(config)?;
    serve_metrics(config, a.metrics_listen).await?;
    kafka::ensure_topics(&config.kafka, None).await?;
    let lake = config.lake()?;
    let mut opts = config.normaliser.clone();
    if !a.sources.is_empty() {
        opts.sources = a.sources;
    }
    let mut n = Normaliser::start(&lake, &config.kafka, &config.kafka.brokers, opts).await?;
    let stats = n.run(ctrl_c(), a.until_idle).await?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Show dead-lettered messages with their reasons.
    List,
    /// Send dead-lettered messages back to their topics (after a fix).
    Replay {
        /// Only the message at this dead-letter offset.
        #[arg(long)]
        offset: Option<i64>,
    },
}

/// What `vru dlq list` shows of a message. Another producer's message may
/// carry what ours never do, so every string in it is screened like a
/// partner's value, and a message that is not JSON is shown masked.
fn dlq_preview(payload: &[u8]) -> String {
    use vru_model::identifiers::{Place, scan, shown};
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return shown(&String::from_utf8_lossy(&payload[..payload.len().min(80)]));
    };
    let mut values = Vec::new();
    strings(&json, &mut values);
    // Our ids and hashes are hex: their digits are not numbers of people.
    let hex_id = |v: &str| v.len() >= 16 && v.bytes().all(|b| b.is_ascii_hexdigit()) && v.bytes().any(|b| b.is_ascii_alphabetic());
    match values.iter().filter(|v| !hex_id(v)).find_map(|v| scan(v, Place::Typed).strong) {
        Some(f) => format!("[payload withheld: it holds {}]", f.describe()),
        None => String::from_utf8_lossy(payload).chars().take(80).collect(),
    }
}

pub async fn dlq(config: &Config, a: DlqArgs) -> anyhow::Result<()> {
    if config.kafka.is_embedded() {
        bail!("the dead-letter topic lives in Kafka: give --brokers HOST:PORT (the embedded broker keeps nothing after its process ends)");
    }
    let letters = vru_ingest::dlq::read_all(&config.kafka, &config.kafka.brokers).await?;
    match a.command {
        DlqCommand::List => {
            for d in &letters {
                let preview = dlq_preview(&d.payload);
                println!(
                    "{}@{}  from {}/{}@{}  {}  {}\n    {}",
                    d.dlq_partition, d.dlq_offset, d.topic, d.partition, d.offset, d.failed_at, d.reason, preview
                );
            }
            println!("{} dead-lettered message(s)", letters.len());
        }
        DlqCommand::Replay { offset } => {
            let chosen: Vec<_> = letters.into_iter().filter(|d| offset.is_none_or(|o| d.dlq_offset == o)).collect();
            let mut sink = KafkaSink::new(&config.kafka, &config.kafka.brokers, ConfirmBy::Broker)?;
            let n = chosen.len();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                for d in chosen {
                    sink.send_raw(&d.topic, &d.key, &d.payload)?;
                }
                vru_ingest::sink::EventSink::confirm(&mut sink)?;
                Ok(())
            })
            .await??;
            println!("replayed {n} message(s) to their original topics; the normaliser will process them again");
        }
    }
    Ok(())
}
