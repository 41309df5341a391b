//! `vru demo`: the whole path on a fresh machine, no services needed.
//! Generates a city, loads its reference tables, ingests its extracts
//! through the embedded Kafka into the lake, and prints the measures.

use crate::config::Config;
use anyhow::Context as _;
use clap::Args;
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;
use vru_ingest::pipeline::{LandingOptions, Work};
use vru_ingest::reference::{self, PopulationFormat};
use vru_model::tables::Reference;
use vru_queries::{build_session, format, measures};

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Multiplies event volumes (1.0 is about 200,000 events).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// LSOAs in the focus local authority.
    #[arg(long, default_value_t = 120)]
    pub focus_lsoas: usize,
}

pub async fn run(config: &Config, a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = &config.data_dir;
    let synthetic = data.join("synthetic");
    let city = vru_synth::CityConfig { seed: a.seed, scale: a.scale, focus_lsoas: a.focus_lsoas, ..Default::default() };
    println!("1/4 Generating a synthetic city (seed {}) into {}", a.seed, synthetic.display());
    let summary = vru_synth::generate(&city, &synthetic)?;
    println!(
        "    {} partner extracts, {} rows, over financial years {}/{:02} to {}/{:02}",
        summary.files,
        summary.rows,
        city.first_fy,
        (city.first_fy + 1) % 100,
        city.last_fy(),
        (city.last_fy() + 1) % 100
    );

    // The demo's settings sit beside its lake, so later commands agree with it.
    let mut config = config.clone();
    config.measures.focus_area = summary.focus_area.clone();
    config.measures.focus_name = "Castlebridge".into();
    write_settings(&config)?;

    println!("2/4 Loading reference tables (LSOA lookup, population, IMD)");
    let lake = Lake::new(config.lake_dir());
    let reference_dir = std::path::Path::new(&summary.reference);
    for r in Reference::ALL {
        let rep = reference::load(&lake, *r, &reference_dir.join(format!("{}.csv", r.name())), PopulationFormat::Long).await?;
        println!("    {:<12} {:>7} rows", rep.table, rep.rows);
    }

    println!("3/4 Ingesting through the embedded Kafka broker into the Delta lake");
    let t = Instant::now();
    let landing =
        LandingOptions { root: summary.landing.clone().into(), once: true, settle: Duration::ZERO, poll: Duration::from_millis(100) };
    let report = super::stream::run_embedded_or_real(&config, Work::Landing(landing)).await?;
    let published: u64 = report.receipts.iter().map(|r| r.rows_published).sum();
    let rejected: u64 = report.receipts.iter().map(|r| r.rows_rejected).sum();
    let stats = report.normaliser.clone().unwrap_or_default();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "    {} files, {} events published, {} rows rejected; {} written to the lake, {} duplicates dropped, in {:.1}s ({:.0} events/s)",
        report.receipts.len(),
        published,
        rejected,
        stats.events_written,
        stats.duplicates_dropped,
        secs,
        published as f64 / secs.max(1e-9)
    );

    println!("4/4 Computing the measures with DataFusion SQL\n");
    let mut opts = super::session_options(&config).await?;
    opts.materialise = true;
    let session = build_session(&opts).await?;
    let year = super::query::latest_year(&session).await?.context("no police data in the lake")?;
    for m in measures::MEASURES {
        let batches = measures::run(&session, m, Some(&year), Some("focus")).await?;
        println!("{} {} - {} (n in: {})", m.id, m.title, year, m.n_columns.join(", "));
        println!("{}\n", format::table(&batches));
    }
    let lake_dir = std::fs::canonicalize(config.lake_dir()).unwrap_or(config.lake_dir());
    println!("Done in {:.1}s. The lake is at {}", started.elapsed().as_secs_f64(), lake_dir.display());
    println!("Query it next:");
    println!("  vru sql \"SELECT category, count(*) FROM crimes WHERE in_focus GROUP BY category\"");
    println!("  vru measures --year {year} --all-areas --explain");
    println!(
        "  python3 -c \"import duckdb; print(duckdb.sql(\\\"SELECT count(*) FROM delta_scan('{}/police_offences')\\\"))\"",
        lake_dir.display()
    );
    Ok(())
}

fn write_settings(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("vru.toml");
    let text = format!(
        "# Written by `vru demo`: the synthetic city's focus area, so later commands\n# (vru sql, vru measures) report on the same area.\n[measures]\nfocus_area = {:?}\nfocus_name = {:?}\n",
        config.measures.focus_area, config.measures.focus_name
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
