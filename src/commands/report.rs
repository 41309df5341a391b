//! `vru report`: the annual-review report for one year and one audience,
//! or the same report again from an earlier run's manifest.

use crate::config::Config;
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::PathBuf;
use vru_model::classification::{Catalogue, Definition};
use vru_model::period::FinancialYear;
use vru_queries::disclosure::Policy;
use vru_queries::report::{self, Manifest};
use vru_queries::{LakeSource, SessionOptions, build_session};

#[derive(Args)]
pub struct ReportArgs {
    /// Financial year, e.g. 2023/24.
    #[arg(long, required_unless_present = "from_manifest")]
    pub year: Option<String>,
    /// public, partner or analyst (disclosure control).
    #[arg(long, default_value = "public")]
    pub audience: String,
    /// Output directory: report.html, one CSV per measure, manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Produce the report described by this manifest again: same definition,
    /// parameters and Delta table versions (time travel).
    #[arg(long, conflicts_with_all = ["year"])]
    pub from_manifest: Option<PathBuf>,
}

pub async fn run(config: &Config, a: ReportArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (opts, year, policy) = match &a.from_manifest {
        Some(path) => {
            let found = from_manifest(config, path)?;
            refuse_if_erased(config, path).await?;
            found
        }
        None => {
            let year: FinancialYear = a.year.as_deref().unwrap_or_default().parse()?;
            let Some(policy) = Policy::parse(&a.audience) else { bail!("--audience must be public, partner or analyst") };
            let mut opts = super::session_options(config).await?;
            // The annual report's rolling period is the year itself.
            opts.as_of = year.end_exclusive().pred_opt();
            (opts, year, policy)
        }
    };
    let mut opts = opts;
    opts.materialise = vru_queries::Materialise::AtBuild;
    let session = build_session(&opts).await?;
    let rules = match &a.from_manifest {
        Some(path) => manifest_rules(path)?.unwrap_or_else(|| config.disclosure.rules(policy)),
        None => config.disclosure.rules(policy),
    };
    let manifest = report::write(&session, &opts, &year, &rules, &a.out, chrono::Utc::now()).await?;
    if let Some(d) = &manifest.disclosure {
        println!(
            "Disclosure control: {} count cells suppressed in the report ({} small, {} to protect them, over all years); intruder audit: {} cells checked, {} LP solves, none exposed",
            d.suppressed_in_report, d.primary, d.secondary, d.audit.cells_checked, d.audit.lp_solves
        );
    }
    println!(
        "Wrote {} ({} measures, audience {}, definition {} {}) in {:.1}s",
        a.out.join("report.html").display(),
        manifest.files.len(),
        policy.as_str(),
        manifest.definition.name,
        manifest.definition.version,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The disclosure rules an earlier report used (its protection level).
fn manifest_rules(path: &std::path::Path) -> anyhow::Result<Option<vru_queries::disclosure::Rules>> {
    let m: Manifest = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok(m.disclosure.map(|d| d.rules))
}

fn from_manifest(config: &Config, path: &std::path::Path) -> anyhow::Result<(SessionOptions, FinancialYear, Policy)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let m: Manifest = serde_json::from_str(&text).with_context(|| format!("{} is not a report manifest", path.display()))?;
    let catalogue = Catalogue::builtin();
    if catalogue.version != m.catalogue_version {
        bail!("the manifest used offence catalogue {}, this build has {}", m.catalogue_version, catalogue.version);
    }
    let definition = Definition::from_toml(&m.definition.text, &catalogue)?;
    let lake = LakeSource::Delta { lake: config.lake()?, versions: m.tables.clone() };
    let mut opts = SessionOptions::new(lake, definition, m.focus_area.clone());
    opts.focus_name = m.focus_name.clone();
    opts.cohort_years = m.cohort_years;
    opts.as_of = Some(m.as_of);
    Ok((opts, m.year.parse()?, m.audience))
}

/// A report cannot be reproduced once a retention run has erased records
/// it may have read: time travel would either fail on vacuumed files or,
/// within the vacuum grace period, show erased records again. Say which
/// run, rather than produce different numbers.
async fn refuse_if_erased(config: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    let m: Manifest = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let lake = config.lake()?;
    let tables: Vec<String> = m.tables.iter().filter(|(_, v)| v.is_some()).map(|(t, _)| t.clone()).collect();
    let found = vru_ingest::retention::history::erased_since(&lake, &tables, m.generated_at).await?;
    if let Some(first) = found.first() {
        let all: Vec<String> =
            found.iter().map(|e| format!("{} erased {} events of {} (as of {})", e.run_id, e.events, e.table, e.as_of)).collect();
        bail!(
            "this report ({} generated {}) cannot be reproduced: retention run {} has since erased data it read, as its policy required. {}. The report's published figures stand; the records behind them no longer exist",
            m.year,
            m.generated_at.format("%Y-%m-%d %H:%M UTC"),
            first.run_id,
            all.join("; ")
        );
    }
    Ok(())
}
