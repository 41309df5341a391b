//! `vru demo`: the whole path on a fresh machine, no services needed.
//! Generates a city, loads its reference tables, ingests its extracts
//! through the embedded Kafka into the lake, prints one line per measure,
//! writes the public report, and prints next steps that work as printed.

use crate::config::Config;
use anyhow::Context as _;
use clap::Args;
use std::time::{Duration, Instant};
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
    let lake = config.lake()?;
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

    let mut opts = super::session_options(&config).await?;
    opts.materialise = vru_queries::Materialise::AtBuild;
    let session = build_session(&opts).await?;
    let year = super::query::latest_year(&session).await?.context("no police data in the lake")?;
    println!("4/4 Computing the measures with DataFusion SQL: {year}, {}", config.measures.focus_name);
    for m in measures::MEASURES {
        let batches = measures::run(&session, m, Some(&year), Some("focus")).await?;
        println!("    {}", summary_line(m, &batches));
    }
    drop(session);

    let data_dir = std::fs::canonicalize(&config.data_dir).unwrap_or(config.data_dir.clone());
    let report_dir = data_dir.join("report");
    println!("\nWriting the public annual report for {year} (disclosure control applied)");
    let args =
        super::report::ReportArgs { year: Some(year.clone()), audience: "public".into(), out: report_dir.clone(), from_manifest: None };
    super::report::run(&config, args).await?;
    println!("\nDone in {:.1}s. Open {} in a browser.", started.elapsed().as_secs_f64(), report_dir.join("report.html").display());
    for hint in hints(&data_dir, &year) {
        println!("{hint}");
    }
    Ok(())
}

/// One line per measure: its rows for the year in the focus area and the
/// total of each count it is built on (`n`), or that it has none.
fn summary_line(m: &measures::Measure, batches: &[vru_queries::datafusion::arrow::array::RecordBatch]) -> String {
    use vru_queries::datafusion::arrow::array::AsArray;
    use vru_queries::datafusion::arrow::compute::{cast, sum};
    use vru_queries::datafusion::arrow::datatypes::{DataType, Float64Type};
    let rows = format::row_count(batches);
    if rows == 0 {
        return format!("{:<26} {}: no rows (no data for it in the demo)", m.id, m.title);
    }
    let mut ns = Vec::new();
    for c in m.n_columns.iter().take(2) {
        let mut total = 0.0;
        for b in batches {
            if let Some(col) = b.column_by_name(c)
                && let Ok(v) = cast(col, &DataType::Float64)
            {
                total += sum(v.as_primitive::<Float64Type>()).unwrap_or(0.0);
            }
        }
        ns.push(format!("{c} {}", thousands(total.round() as i64)));
    }
    format!("{:<26} {}: {rows} row{}; n = {}", m.id, m.title, if rows == 1 { "" } else { "s" }, ns.join(", "))
}

fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Next steps, each a command that works as printed from any directory:
/// the binary by its real path and the data directory in full.
fn hints(data: &std::path::Path, year: &str) -> Vec<String> {
    let exe = std::env::current_exe().map_or("vru".to_string(), |p| p.display().to_string());
    let vru = format!("{} --data-dir {}", shell_quote(&exe), shell_quote(&data.display().to_string()));
    let crimes = data.join("crimes.parquet");
    vec![
        "Next:".to_string(),
        format!("  {vru} measures --year {year} --measure h1"),
        format!("  {vru} measures --year {year} --all-areas --explain --measure y1"),
        format!("  {vru} sql \"SELECT category, count(*) AS crimes FROM crimes WHERE in_focus GROUP BY category ORDER BY 2 DESC\""),
        format!(
            "  {vru} sql \"SELECT * FROM police_offences\" --format csv --out {}",
            shell_quote(&data.join("police_offences.csv").display().to_string())
        ),
        format!("  {vru} sql \"SELECT * FROM crimes\" --format parquet --out {}", shell_quote(&crimes.display().to_string())),
        format!(
            "  python3 -c \"import pandas as pd; print(pd.read_parquet('{}').groupby('category', dropna=False).size())\"",
            crimes.display()
        ),
    ]
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn write_settings(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("vru.toml");
    // A lake elsewhere (`--lake s3://...`) is recorded too, so the hints
    // printed after the demo read the lake it wrote.
    let lake = config.lake.as_ref().map(|l| format!("lake = {l:?}\n")).unwrap_or_default();
    let text = format!(
        "# Written by `vru demo`: the synthetic city's focus area, so later commands\n# (vru sql, vru measures) report on the same area.\n{lake}[measures]\nfocus_area = {:?}\nfocus_name = {:?}\n",
        config.measures.focus_area, config.measures.focus_name
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
