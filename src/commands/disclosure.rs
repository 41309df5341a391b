//! `vru disclosure audit`: the intruder audit. Computes every measure
//! exactly, protects them for the audience as a report or the SQL service
//! would, then, reading only what is published, finds for every suppressed
//! or rounded count the tightest interval derivable from all published
//! tables together, and prints every cell narrower than the protection level.

use crate::config::Config;
use anyhow::bail;
use clap::{Args, Subcommand};
use std::time::Instant;
use vru_model::period::FinancialYear;
use vru_queries::build_session;
use vru_queries::disclosure::{self, Policy, published};
use vru_queries::report;

#[derive(Args)]
pub struct DisclosureArgs {
    #[command(subcommand)]
    pub command: DisclosureCommand,
}

#[derive(Subcommand)]
pub enum DisclosureCommand {
    /// Audit what an audience is given against an intruder with every table.
    Audit(AuditArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    /// public or partner.
    #[arg(long, default_value = "public")]
    pub audience: String,
    /// Audit the annual report for this financial year (its rows, its
    /// rolling period); without it, every row the SQL service serves.
    #[arg(long)]
    pub year: Option<String>,
    /// Protection level (default: from configuration, 7 public, 4 partner).
    #[arg(long)]
    pub protection: Option<i64>,
    /// End of the rolling 12 months, YYYY-MM-DD (default: the last day
    /// with data, as the SQL service has it; with --year, the year's end).
    #[arg(long, conflicts_with = "year")]
    pub as_of: Option<chrono::NaiveDate>,
}

pub async fn run(config: &Config, a: DisclosureArgs) -> anyhow::Result<()> {
    let DisclosureCommand::Audit(a) = a.command;
    let Some(policy) = Policy::parse(&a.audience).filter(|p| *p != Policy::Analyst) else { bail!("--audience must be public or partner") };
    let mut rules = config.disclosure.rules(policy);
    if let Some(p) = a.protection {
        rules = rules.with_protection(p);
    }
    let year: Option<FinancialYear> = a.year.as_deref().map(str::parse).transpose()?;
    let mut opts = super::session_options(config).await?;
    if let Some(y) = &year {
        opts.as_of = y.end_exclusive().pred_opt();
    }
    opts.as_of = a.as_of.or(opts.as_of);
    opts.materialise = vru_queries::Materialise::AtBuild;
    let started = Instant::now();
    let session = build_session(&opts).await?;
    let outputs = report::controlled_outputs(&session).await?;
    let measured = started.elapsed();
    let ctx = disclosure::Context::from_session(&session.ctx, &opts.focus_area).await?;
    let t = Instant::now();
    let protected = report::protect_outputs(&outputs, &ctx, &rules)?;
    let protect_time = t.elapsed();
    // What is published: every row, or the report's rows.
    let shown: Vec<disclosure::Grid> = protected
        .grids
        .iter()
        .map(|g| match &year {
            Some(y) => {
                let year = y.to_string();
                let keep = |r: &usize| {
                    g.get(*r, "period").is_none_or(|p| p <= year.as_str()) && g.get(*r, "period_type").is_none_or(|t| t == "financial_year")
                };
                disclosure::Grid { columns: g.columns.clone(), rows: (0..g.rows.len()).filter(keep).map(|r| g.rows[r].clone()).collect() }
            }
            None => g.clone(),
        })
        .collect();
    let tables: Vec<disclosure::Table<'_>> =
        outputs.iter().map(|(m, g)| disclosure::Table { view: m.view, spec: &m.spec, grid: g }).collect();
    let t = Instant::now();
    let audit = published::audit_published(&tables, &shown.iter().map(Some).collect::<Vec<_>>(), &ctx, &rules)?;
    let audit_time = t.elapsed();
    for v in &audit.model.violations {
        println!("relation not holding (left out): {v}");
    }
    let exposed: Vec<_> = audit.findings.iter().filter(|f| f.exposed).collect();
    for f in &exposed {
        println!("EXPOSED {}: published {}, exact {}, intruder interval {}", f.cell, f.published, f.exact, f.interval);
    }
    for e in &protected.audit.exposed {
        println!("LEFT EXPOSED BY PROTECTION {}: published {}, {}", e.cell, e.published, e.interval);
    }
    for d in &audit.derived_mismatches {
        println!("DERIVED FROM EXACT COUNTS {d}");
    }
    let published_cells = audit
        .shown
        .iter()
        .zip(&audit.model.vars)
        .filter(|(s, v)| matches!(v.kind, disclosure::structure::VarKind::Published(_)) && **s != disclosure::audit::Shown::Hidden)
        .count();
    let suppressed = audit.shown.iter().filter(|s| **s == disclosure::audit::Shown::Suppressed).count();
    println!(
        "audience {} (threshold {}, rounding {}, protection level {}){}",
        policy.as_str(),
        rules.threshold,
        rules.rounding.map_or("none".to_string(), |s| format!("to {s}")),
        rules.protection,
        year.as_ref().map_or(String::new(), |y| format!(", report {y}"))
    );
    println!(
        "{} count cells published, {} suppressed ({} small, {} secondary over all periods in {} rounds); {} relation instances, {} unpublished remainders",
        published_cells,
        suppressed,
        protected.primary,
        protected.secondary,
        protected.rounds,
        audit.model.eqs.len(),
        audit.model.vars.iter().filter(|v| matches!(v.kind, disclosure::structure::VarKind::Hidden { .. })).count()
    );
    println!(
        "audit: {} cells checked, {} LP solves over {} components (largest {} cells), {:.2}s; protection {:.2}s ({} LP solves); measures {:.2}s",
        audit.stats.checked,
        audit.stats.solves,
        audit.stats.components,
        audit.stats.largest,
        audit_time.as_secs_f64(),
        protect_time.as_secs_f64(),
        protected.audit.lp_solves,
        measured.as_secs_f64()
    );
    if !exposed.is_empty() || !audit.derived_mismatches.is_empty() {
        bail!("{} exposed cell(s), {} derived figure(s) not from published counts", exposed.len(), audit.derived_mismatches.len());
    }
    println!("no exposed cell");
    Ok(())
}
