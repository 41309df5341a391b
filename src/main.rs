//! `vru`: the command line of the VRU serious-violence pipeline. Argument
//! parsing and dispatch only; the work is in the `vru-*` crates.

mod commands;
mod config;
mod exit;

use clap::{Parser, Subcommand};
use config::{Config, KafkaOverride, MeasureOverride, Overrides, RetentionOverride};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "vru",
    version,
    about = "Serious-violence data pipeline for Violence Reduction Units: partner extracts -> Kafka -> Delta lake -> SQL measures"
)]
struct Cli {
    /// Configuration file (default: ./vru.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory holding the lake and the landing folder.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The lake, when not <data-dir>/lake: a directory or s3://bucket/prefix
    /// (S3 endpoint and credentials from the AWS_* environment variables).
    #[arg(long, global = true)]
    lake: Option<String>,
    /// Kafka bootstrap servers; without it, the embedded in-process broker.
    #[arg(long, global = true)]
    brokers: Option<String>,
    /// Serious-violence definition: built-in name or definition file.
    #[arg(long, global = true)]
    definition: Option<String>,
    /// Retention policy: built-in name (default) or policy file.
    #[arg(long, global = true)]
    retention: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a city, ingest it through Kafka into the lake, print the measures.
    Demo(commands::demo::DemoArgs),
    /// Write a synthetic city's partner extracts, reference tables and planted truths.
    Generate(commands::data::GenerateArgs),
    /// Replace identifier columns of a CSV with keyed pseudonyms (partners run this).
    Pseudonymise(commands::data::PseudonymiseArgs),
    /// Load reference tables (LSOA lookup, population, IMD) into the lake.
    Reference(commands::data::ReferenceArgs),
    /// Publish extracts to Kafka: files, or a landing folder with --watch.
    Ingest(commands::stream::IngestArgs),
    /// Consume Kafka into the lake (needs --brokers).
    Normalise(commands::stream::NormaliseArgs),
    /// Ingest and normalise in one process: the single-machine deployment.
    Run(commands::stream::RunArgs),
    /// Dead-letter topic: list or replay messages the normaliser refused.
    Dlq(commands::stream::DlqArgs),
    /// Run any SQL over the lake and print the result.
    Sql(commands::query::SqlArgs),
    /// Run the measure files and print each with its n.
    Measures(commands::query::MeasuresArgs),
    /// Write the annual-review report (HTML, CSVs, manifest) for one audience.
    Report(commands::report::ReportArgs),
    /// Disclosure control: the intruder audit of what an audience is given.
    Disclosure(commands::disclosure::DisclosureArgs),
    /// Serve the lake over the PostgreSQL wire protocol (psql, DBeaver, pandas, R).
    Serve(commands::serve::ServeArgs),
    /// Users of the SQL service: add, list, remove.
    User(commands::serve::UserArgs),
    /// Retention: plan what falls due, apply deletions and withdrawals.
    Retention(commands::retention::RetentionArgs),
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}

/// Query jobs tune glibc's allocator so that peak RSS follows what the
/// memory pool holds, not what the allocator keeps:
/// - at most two malloc arenas instead of glibc's eight per core.
///   DataFusion frees on one thread what it allocated on another, and
///   every arena keeps its freed pages: on the 10x public report this took
///   peak RSS from 481-568 MB to 361-458 MB for the same pool and about 5%
///   more time;
/// - blocks of 256 KiB and more straight from `mmap`, so they go back to
///   the system when freed. glibc's default threshold rises to 32 MiB as
///   large blocks are freed, after which Arrow buffers come from the heap
///   and their pages stay with the process: the 100x report under a
///   768 MiB pool peaked at 1,020 MB with the default and 881 MB with
///   this, in one run each (`BENCHMARKS.md`).
///
/// The streaming commands keep glibc's defaults: the normaliser used
/// 10-15% more CPU with two arenas. `vru serve` sets its own
/// ([`vru_server::memory::limit_malloc_arenas`]). Called before the
/// runtime starts any thread; an operator's own `MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` wins.
const QUERY_MMAP_THRESHOLD: i32 = 256 * 1024;

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VRU_LOG")
                .unwrap_or_else(|_| "warn,vru=info,vru_ingest=info,vru_queries=info,vru_synth=info,vru_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        lake: cli.lake.clone(),
        kafka: cli.brokers.clone().map(|brokers| KafkaOverride { brokers }),
        measures: cli.definition.clone().map(|d| MeasureOverride { definition: Some(d) }),
        retention: cli.retention.clone().map(|policy| RetentionOverride { policy }),
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    if matches!(cli.command, Command::Sql(_) | Command::Measures(_) | Command::Report(_) | Command::Disclosure(_)) {
        vru_server::memory::tune_malloc(QUERY_MMAP_THRESHOLD);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Demo(a) => commands::demo::run(&config, a).await,
            Command::Generate(a) => commands::data::generate(a),
            Command::Pseudonymise(a) => commands::data::pseudonymise(a),
            Command::Reference(a) => commands::data::reference(&config, a).await,
            Command::Ingest(a) => commands::stream::ingest(&config, a).await,
            Command::Normalise(a) => commands::stream::normalise(&config, a).await,
            Command::Run(a) => commands::stream::run(&config, a).await,
            Command::Dlq(a) => commands::stream::dlq(&config, a).await,
            Command::Sql(a) => commands::query::sql(&config, a).await,
            Command::Measures(a) => commands::query::measures(&config, a).await,
            Command::Report(a) => commands::report::run(&config, a).await,
            Command::Disclosure(a) => commands::disclosure::run(&config, a).await,
            Command::Serve(a) => commands::serve::serve(&config, a).await,
            Command::User(a) => commands::serve::user(&config, a),
            Command::Retention(a) => commands::retention::run(&config, a).await,
        }
    })
}
