//! Commands that read the lake: `sql`, `measures`.

use crate::config::Config;
use anyhow::{Context as _, bail};
use clap::Args;
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use vru_queries::export::{self, Format};
use vru_queries::{build_session, format, measures};

#[derive(Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT count(*) FROM police_offences".
    pub query: String,
    /// table (aligned, for a terminal), csv (safe to open in Excel: cells
    /// that look like formulas start with '), json (one object per line) or
    /// parquet. All but table are streamed as the query runs.
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Where a result goes: the file named, or standard output (never Parquet
/// to a terminal).
fn sink(out: Option<&Path>, format: Format) -> anyhow::Result<Box<dyn Write + Send>> {
    match out {
        Some(p) => {
            let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            Ok(Box::new(std::io::BufWriter::new(f)))
        }
        None if format == Format::Parquet && std::io::stdout().is_terminal() => {
            bail!("Parquet is binary: give a file with --out FILE (or redirect standard output)")
        }
        None => Ok(Box::new(std::io::BufWriter::new(std::io::stdout()))),
    }
}

pub async fn sql(config: &Config, a: SqlArgs) -> anyhow::Result<()> {
    let mut opts = super::session_options(config).await?;
    // A query that reads a current-state table more than once (every
    // measure view does) computes it once; one that reads it once reads
    // the view, only the columns it needs.
    opts.materialise = vru_queries::Materialise::OnFirstUse;
    opts.measures = vru_queries::MeasureViews::named_in(&a.query);
    let session = build_session(&opts).await?;
    let (state, plan) = session.ctx.sql(&a.query).await?.into_parts();
    let plan = vru_queries::computed::inline_single_reads(plan)?;
    let stream = vru_queries::datafusion::prelude::DataFrame::new(state, plan).execute_stream().await?;
    let rows = export::write(stream, a.format, sink(a.out.as_deref(), a.format)?).await?;
    eprintln!("{rows} row(s){}", a.out.as_ref().map_or(String::new(), |p| format!(" written to {}", p.display())));
    Ok(())
}

#[derive(Args)]
pub struct MeasuresArgs {
    /// Financial year (2023/24) or calendar year (2023); default: the
    /// latest financial year the data cover.
    #[arg(long)]
    pub year: Option<String>,
    /// Only these measures (H1, H2, Y1, C1... or a view name such as
    /// h1_public).
    #[arg(long = "measure")]
    pub measures: Vec<String>,
    /// table, csv, json or parquet (see `vru sql --help`). Other than
    /// table, each measure goes to `<out>/<view>.<format>`; with one
    /// --measure and no --out, to standard output.
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// A directory for the measures' files (created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Every area, not only the focus area as a whole.
    #[arg(long)]
    pub all_areas: bool,
    /// Show each measure's definition (its SQL header).
    #[arg(long)]
    pub explain: bool,
    /// Replace the C1 cohort with this SQL file (returning period, person).
    #[arg(long)]
    pub cohort_sql: Option<std::path::PathBuf>,
    /// End of the rolling 12-month period, YYYY-MM-DD (default: the last
    /// day with a police-recorded offence).
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
}

pub async fn measures(config: &Config, a: MeasuresArgs) -> anyhow::Result<()> {
    let selected = measures::select(&a.measures)?;
    if a.format != Format::Table && a.out.is_none() && selected.len() != 1 {
        bail!("--format {:?} writes one file per measure: give a directory with --out DIR, or one --measure", a.format);
    }
    let mut opts = super::session_options(config).await?;
    opts.as_of = a.as_of.or(opts.as_of);
    opts.materialise = vru_queries::Materialise::OnFirstUse;
    if let Some(p) = &a.cohort_sql {
        opts.cohort_sql = Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let session = build_session(&opts).await?;
    let year = match &a.year {
        Some(y) => y.parse::<vru_model::period::Year>()?.to_string(),
        None => latest_year(&session).await?.context("the lake has no events yet: ingest extracts first (or run `vru demo`)")?,
    };
    let area = (!a.all_areas).then_some("focus");
    if a.format != Format::Table {
        return export_measures(&session, &selected, &year, area, &a).await;
    }
    println!("Measures for {year} (definition {} {})\n", opts.definition.name, opts.definition.version);
    if let Some(note) = measures::partial_note(&session, &year).await? {
        println!("Note: {note}.\n");
    }
    for m in selected {
        let batches = measures::run(&session, m, Some(&year), area).await?;
        if format::row_count(&batches) == 0 {
            let hint = if area.is_some() { " in the focus area (--all-areas shows every area)" } else { "" };
            println!("{} {}: no rows for {year}{hint}: the lake holds no data this measure reads for it\n", m.id, m.title);
            continue;
        }
        println!("{} {} ({} rows; n in: {})", m.id, m.title, format::row_count(&batches), m.n_columns.join(", "));
        if a.explain {
            println!("{}\n", measures::header(m));
        }
        println!("{}\n", format::table(&batches));
    }
    Ok(())
}

/// Each measure to its own file under `--out` (or the one measure to
/// standard output), streamed.
async fn export_measures(
    session: &vru_queries::Session,
    selected: &[&'static measures::Measure],
    year: &str,
    area: Option<&str>,
    a: &MeasuresArgs,
) -> anyhow::Result<()> {
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for m in selected {
        let path = a.out.as_ref().map(|d| d.join(format!("{}.{}", m.view.trim_start_matches("measure_"), a.format.extension())));
        let stream = measures::frame(session, m, Some(year), area).await?.execute_stream().await?;
        let rows = export::write(stream, a.format, sink(path.as_deref(), a.format)?).await?;
        match &path {
            Some(p) => eprintln!("{} {}: {rows} row(s) written to {}", m.id, m.title, p.display()),
            None => eprintln!("{} {}: {rows} row(s)", m.id, m.title),
        }
    }
    Ok(())
}

/// The latest financial year the police data cover, else (a lake holding
/// only other partners' or public data) the one of the latest event.
pub async fn latest_year(session: &vru_queries::Session) -> anyhow::Result<Option<String>> {
    if let Some(y) = first_value(session, "SELECT max(period) FROM data_years").await? {
        return Ok(Some(y));
    }
    first_value(
        session,
        "SELECT max(fy.period) FROM financial_years fy CROSS JOIN (SELECT max(occurred_at) AS last_at FROM all_events) e \
         WHERE fy.start_ts <= e.last_at AND fy.end_ts > e.last_at",
    )
    .await
}

async fn first_value(session: &vru_queries::Session, sql: &str) -> anyhow::Result<Option<String>> {
    let b = session.ctx.sql(sql).await?.collect().await?;
    let v = b
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| vru_queries::datafusion::arrow::util::display::array_value_to_string(b.column(0), 0))
        .transpose()?;
    Ok(v.filter(|s| !s.is_empty()))
}
