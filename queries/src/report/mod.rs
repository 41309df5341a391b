//! The annual-review report: every measure for one financial year, through
//! disclosure control for one audience, as a self-contained `report.html`,
//! one CSV per measure and a `manifest.json` that pins everything the
//! figures depend on (definition text and version, Delta table versions,
//! policy, parameters), so the same report can be produced again from the
//! same table versions and come out byte-identical except for the run time.

pub mod charts;
mod figures;
mod html;

pub use html::render;

use crate::disclosure::{self, Grid, Policy};
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

/// The periods a report for `year` shows: financial years up to it.
fn report_filter(m: &Measure, year: &FinancialYear, grid_cols: &[String]) -> String {
    let mut conds = vec![format!("period <= '{year}'")];
    if grid_cols.iter().any(|c| c == "period_type") {
        conds.push("period_type = 'financial_year'".into());
    }
    let _ = m;
    format!("WHERE {}", conds.join(" AND "))
}

/// Runs every measure and applies the audience's disclosure policy.
pub async fn sections(session: &Session, year: &FinancialYear, policy: Policy) -> Result<Vec<Section>, QueryError> {
    let mut out = Vec::new();
    for m in MEASURES {
        let df = session.ctx.table(m.view).await?;
        let cols: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let filter = if cols.iter().any(|c| c == "period") { report_filter(m, year, &cols) } else { String::new() };
        let sql = format!("SELECT * FROM {} {filter} ORDER BY {}", m.view, m.order_by);
        let mut grid = grid_of(&session.ctx.sql(&sql).await?.collect().await?)?;
        if grid.columns.is_empty() {
            // No rows: the CSV still says what its columns are.
            grid.columns = cols;
        }
        out.push(Section { measure: m, grid: disclosure::apply(&grid, &m.spec, policy) });
    }
    Ok(out)
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
    policy: Policy,
    out: &Path,
    now: DateTime<Utc>,
) -> Result<Manifest, QueryError> {
    let io = |e: std::io::Error| QueryError::Invalid(format!("writing the report to {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    let sections = sections(session, year, policy).await?;
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
        audience: policy,
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
        generated_at: now,
    };
    let page = html::render(&manifest, &sections);
    std::fs::write(out.join("report.html"), page).map_err(io)?;
    std::fs::write(out.join("manifest.json"), serde_json::to_vec_pretty(&manifest).expect("manifest serialises")).map_err(io)?;
    Ok(manifest)
}
