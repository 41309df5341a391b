//! Commands that read the lake: `sql`, `measures`.

use crate::config::Config;
use anyhow::Context as _;
use clap::Args;
use vru_queries::{build_session, format, measures};

#[derive(Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT count(*) FROM police_offences".
    pub query: String,
}

pub async fn sql(config: &Config, a: SqlArgs) -> anyhow::Result<()> {
    let session = build_session(&super::session_options(config).await?).await?;
    let batches = session.ctx.sql(&a.query).await?.collect().await?;
    println!("{}", format::table(&batches));
    eprintln!("{} row(s)", format::row_count(&batches));
    Ok(())
}

#[derive(Args)]
pub struct MeasuresArgs {
    /// Financial year, e.g. 2023/24 (default: the latest the data cover).
    #[arg(long)]
    pub year: Option<String>,
    /// Only these measures (H1, H2, Y1, C1...).
    #[arg(long = "measure")]
    pub measures: Vec<String>,
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
    let mut opts = super::session_options(config).await?;
    opts.as_of = a.as_of.or(opts.as_of);
    opts.materialise = true;
    if let Some(p) = &a.cohort_sql {
        opts.cohort_sql = Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let session = build_session(&opts).await?;
    let year = match a.year {
        Some(y) => y.parse::<vru_model::period::FinancialYear>()?.to_string(),
        None => latest_year(&session).await?.context("the lake has no police offences yet: ingest extracts first (or run `vru demo`)")?,
    };
    println!("Measures for {year} (definition {} {})\n", opts.definition.name, opts.definition.version);
    for m in measures::MEASURES {
        if !a.measures.is_empty() && !a.measures.iter().any(|x| x.eq_ignore_ascii_case(m.id)) {
            continue;
        }
        let batches = measures::run(&session, m, Some(&year), (!a.all_areas).then_some("focus")).await?;
        println!("{} {} ({} rows; n in: {})", m.id, m.title, format::row_count(&batches), m.n_columns.join(", "));
        if a.explain {
            println!("{}\n", measures::header(m));
        }
        println!("{}\n", format::table(&batches));
    }
    Ok(())
}

pub async fn latest_year(session: &vru_queries::Session) -> anyhow::Result<Option<String>> {
    let b = session.ctx.sql("SELECT max(period) FROM data_years").await?.collect().await?;
    let v = b
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| vru_queries::datafusion::arrow::util::display::array_value_to_string(b.column(0), 0))
        .transpose()?;
    Ok(v.filter(|s| !s.is_empty()))
}
