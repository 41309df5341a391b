//! The annual-review report: every measure for one financial year, through
//! disclosure control for one audience, as a self-contained `report.html`,
//! one CSV per measure and a `manifest.json` that pins everything the
//! figures depend on (definition text and version, Delta table versions,
//! policy, parameters), so the same report can be produced again from the
//! same table versions and come out byte-identical except for the run time.

pub mod charts;
mod figures;
mod html;
mod words;

pub use html::render;

use crate::disclosure::{self, AuditReport, Grid, Policy, Rules};
use crate::measures::{MEASURES, Measure};
use crate::{QueryError, Session, SessionOptions};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use vru_model::period::FinancialYear;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub report: String,
    pub year: String,
    pub audience: Policy,
    pub definition: DefinitionRef,
    pub catalogue_version: String,
    /// Delta version of every lake table read (absent: table not in the lake).
    pub tables: BTreeMap<String, Option<u64>>,
    pub focus_area: Vec<String>,
    pub focus_name: String,
    pub as_of: NaiveDate,
    pub cohort_years: i32,
    /// SHA-256 of every CSV written, by file name.
    pub files: BTreeMap<String, String>,
    /// How the figures were protected and what the intruder audit found
    /// (absent in manifests written before the audit existed).
    #[serde(default)]
    pub disclosure: Option<Disclosure>,
    /// Set when the police data cover only part of the report's year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// The only field allowed to differ between two runs on the same tables.
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DefinitionRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The definition file itself, so a reproduction needs nothing else.
    pub text: String,
}

/// Disclosure control of a report: the rules, the cells suppressed and the
/// audit of every published table together.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Disclosure {
    pub rules: Rules,
    /// Count cells suppressed as small, and to protect them, over every
    /// period protected (the report shows the years up to its own).
    pub primary: usize,
    pub secondary: usize,
    /// Suppressed count cells in the report's own rows.
    pub suppressed_in_report: usize,
    pub audit: AuditReport,
}

impl Default for Disclosure {
    fn default() -> Self {
        Disclosure { rules: Policy::Analyst.rules(), primary: 0, secondary: 0, suppressed_in_report: 0, audit: AuditReport::default() }
    }
}

/// A measure's published result.
pub struct Section {
    pub measure: &'static Measure,
    pub grid: Grid,
}

/// Formats a result as text cells, NULL as `None`.
pub fn grid_of(batches: &[RecordBatch]) -> Result<Grid, QueryError> {
    let options = FormatOptions::default();
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for b in batches {
        if columns.is_empty() {
            columns = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        }
        let fmts: Vec<ArrayFormatter<'_>> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<_, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(b.columns().iter().zip(&fmts).map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string())).collect());
        }
    }
    Ok(Grid { columns, rows })
}

/// Every measure's exact rows, all periods, in each measure's order.
pub async fn exact_outputs(session: &Session) -> Result<Vec<(&'static Measure, Grid)>, QueryError> {
    outputs_of(session, Measure::all_rows).await
}

/// Every measure's exact rows an audience under disclosure control may be
/// given ([`Measure::controlled_rows`]).
pub async fn controlled_outputs(session: &Session) -> Result<Vec<(&'static Measure, Grid)>, QueryError> {
    outputs_of(session, Measure::controlled_rows).await
}

async fn outputs_of(session: &Session, rows: fn(&Measure) -> String) -> Result<Vec<(&'static Measure, Grid)>, QueryError> {
    let mut out = Vec::new();
    for m in MEASURES {
        let df = session.ctx.table(m.view).await?;
        let cols: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let sql = rows(m);
        let mut grid = grid_of(&session.ctx.sql(&sql).await?.collect().await?)?;
        if grid.columns.is_empty() {
            // No rows: the CSV still says what its columns are.
            grid.columns = cols;
        }
        out.push((m, grid));
    }
    Ok(out)
}

/// Protects every measure together for one audience (see
/// [`disclosure::protect`]): an intruder has all of them at once.
pub fn protect_outputs(
    outputs: &[(&'static Measure, Grid)],
    ctx: &disclosure::Context,
    rules: &Rules,
) -> Result<disclosure::Protected, QueryError> {
    let tables: Vec<disclosure::Table<'_>> =
        outputs.iter().map(|(m, g)| disclosure::Table { view: m.view, spec: &m.spec, grid: g }).collect();
    Ok(disclosure::protect(&tables, ctx, rules)?)
}

/// The rows a report for `year` shows: financial years up to it (the
/// protection covered every period, so leaving rows out is safe).
fn in_report(grid: &Grid, row: usize, year: &FinancialYear) -> bool {
    let year = year.to_string();
    grid.get(row, "period").is_none_or(|p| p <= year.as_str()) && grid.get(row, "period_type").is_none_or(|t| t == "financial_year")
}

/// Runs every measure and applies the audience's disclosure policy to all
/// of them together, then keeps the report year's rows.
pub async fn sections(
    session: &Session,
    opts: &SessionOptions,
    year: &FinancialYear,
    rules: &Rules,
) -> Result<(Vec<Section>, Disclosure), QueryError> {
    let outputs = if rules.is_exact() { exact_outputs(session).await? } else { controlled_outputs(session).await? };
    let ctx = disclosure::Context::from_session(&session.ctx, &opts.focus_area).await?;
    let protected = protect_outputs(&outputs, &ctx, rules)?;
    let mut sections = Vec::new();
    let mut summary = Disclosure { rules: *rules, primary: protected.primary, secondary: protected.secondary, ..Default::default() };
    for ((m, _), grid) in outputs.iter().zip(protected.grids) {
        let keep: Vec<usize> = (0..grid.rows.len()).filter(|r| in_report(&grid, *r, year)).collect();
        let suppressed = |g: &Grid| {
            let cols: Vec<usize> = m.spec.counts.iter().filter_map(|c| g.col(c)).collect();
            keep.iter().map(|r| cols.iter().filter(|c| g.rows[*r][**c].as_deref() == Some(disclosure::SUPPRESSED)).count()).sum::<usize>()
        };
        summary.suppressed_in_report += suppressed(&grid);
        let grid = Grid { columns: grid.columns.clone(), rows: keep.iter().map(|r| grid.rows[*r].clone()).collect() };
        sections.push(Section { measure: m, grid });
    }
    // The manifest records what the audit found, not how long it took.
    summary.audit = AuditReport { millis: 0, ..protected.audit };
    Ok((sections, summary))
}

pub fn csv_bytes(grid: &Grid) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&grid.columns).expect("in-memory CSV");
    for r in &grid.rows {
        w.write_record(r.iter().map(|c| c.as_deref().unwrap_or(""))).expect("in-memory CSV");
    }
    w.into_inner().expect("in-memory CSV")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes report.html, one CSV per measure and manifest.json into `out`.
pub async fn write(
    session: &Session,
    opts: &SessionOptions,
    year: &FinancialYear,
    rules: &Rules,
    out: &Path,
    now: DateTime<Utc>,
) -> Result<Manifest, QueryError> {
    let io = |e: std::io::Error| QueryError::Invalid(format!("writing the report to {}: {e}", out.display()));
    let (sections, disclosure) = sections(session, opts, year, rules).await?;
    if !disclosure.audit.exposed.is_empty() {
        let cells: Vec<String> =
            disclosure.audit.exposed.iter().take(10).map(|e| format!("{} ({} -> {})", e.cell, e.published, e.interval)).collect();
        return Err(QueryError::Invalid(format!(
            "not published: the intruder audit finds {} cell(s) narrower than the protection level {}: {}",
            disclosure.audit.exposed.len(),
            rules.protection,
            cells.join("; ")
        )));
    }
    std::fs::create_dir_all(out).map_err(io)?;
    let mut files = BTreeMap::new();
    for s in &sections {
        let name = format!("{}.csv", s.measure.view.trim_start_matches("measure_"));
        let bytes = csv_bytes(&s.grid);
        files.insert(name.clone(), sha256(&bytes));
        std::fs::write(out.join(&name), bytes).map_err(io)?;
    }
    let manifest = Manifest {
        report: "vru annual review".into(),
        year: year.to_string(),
        audience: rules.policy,
        definition: DefinitionRef {
            name: opts.definition.name.clone(),
            version: opts.definition.version.clone(),
            sha256: sha256(opts.definition.source.as_bytes()),
            text: opts.definition.source.clone(),
        },
        catalogue_version: opts.catalogue.version.clone(),
        tables: session.table_versions.clone(),
        focus_area: opts.focus_area.clone(),
        focus_name: opts.focus_name.clone(),
        as_of: session.as_of,
        cohort_years: opts.cohort_years,
        files,
        disclosure: (!rules.is_exact()).then_some(disclosure),
        partial: crate::measures::partial_note(session, &year.to_string()).await?,
        generated_at: now,
    };
    let page = html::render(&manifest, &sections);
    std::fs::write(out.join("report.html"), page).map_err(io)?;
    std::fs::write(out.join("manifest.json"), serde_json::to_vec_pretty(&manifest).expect("manifest serialises")).map_err(io)?;
    Ok(manifest)
}
