//! The measure files. Each is plain SQL an analyst can read and run; the
//! header comment says what it measures, its parameters and its
//! denominator, and the session registers it as the view `measure_<id>`.

use crate::{QueryError, Session};
use datafusion::arrow::record_batch::RecordBatch;

pub struct Measure {
    pub id: &'static str,
    pub title: &'static str,
    pub view: &'static str,
    pub sql: &'static str,
    /// Columns that carry the n of each row, printed beside the figure.
    pub n_columns: &'static [&'static str],
}

macro_rules! measure {
    ($id:literal, $file:literal, $title:literal, [$($n:literal),*]) => {
        Measure { id: $id, title: $title, view: concat!("measure_", $file), sql: include_str!(concat!("../sql/measures/", $file, ".sql")), n_columns: &[$($n),*] }
    };
}

pub const MEASURES: &[Measure] = &[
    measure!("H1", "h1", "Serious violence offences", ["offences"]),
    measure!("H2", "h2", "Homicide", ["homicides", "homicides_3y"]),
    measure!("Y1", "y1", "Serious youth violence cohort", ["people", "offences"]),
    measure!("C1", "c1", "Cohort risk factors", ["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"]),
];

macro_rules! view {
    ($name:literal) => {
        ($name, include_str!(concat!("../sql/views/", $name, ".sql")))
    };
}

/// Helper views, in dependency order.
pub const VIEWS: &[(&str, &str)] = &[
    view!("areas"),
    view!("area_population"),
    view!("fy_population_year"),
    view!("crimes"),
    view!("data_years"),
    view!("youth_sv_charges"),
    view!("cohort_windows"),
    view!("y1_cohort_charges"),
    view!("c1_cohort"),
];

pub fn find(id: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.id.eq_ignore_ascii_case(id))
}

/// The measure file's header comment, without the comment markers.
pub fn header(m: &Measure) -> String {
    m.sql
        .lines()
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches("--").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a measure, optionally for one period and one area type.
pub async fn run(session: &Session, m: &Measure, period: Option<&str>, area_type: Option<&str>) -> Result<Vec<RecordBatch>, QueryError> {
    let mut sql = format!("SELECT * FROM {}", m.view);
    let mut conds = Vec::new();
    if let Some(p) = period {
        conds.push(format!("period = '{}'", p.replace('\'', "''")));
    }
    if let Some(a) = area_type {
        let df = session.ctx.table(m.view).await?;
        if df.schema().has_column_with_unqualified_name("area_type") {
            conds.push(format!("area_type = '{}'", a.replace('\'', "''")));
        }
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    Ok(session.ctx.sql(&sql).await?.collect().await?)
}
