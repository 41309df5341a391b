//! The measure files. Each is plain SQL an analyst can read and run; the
//! header comment says what it measures, its parameters and its
//! denominator, and the session registers it as the view `measure_<file>`.
//! Beside the SQL, each measure declares what disclosure control needs to
//! know (which columns count people or events, what is derived from them,
//! which rows add up to which) and a total order for its rows, so a report
//! written twice from the same data is byte-identical.

use crate::disclosure::Spec;
use crate::{QueryError, Session};

pub mod declared;
use datafusion::arrow::record_batch::RecordBatch;

pub struct Measure {
    pub id: &'static str,
    pub title: &'static str,
    pub view: &'static str,
    pub sql: &'static str,
    /// Columns that carry the n of each row, printed beside the figure.
    pub n_columns: &'static [&'static str],
    pub spec: Spec,
    /// ORDER BY clause giving every row a fixed place.
    pub order_by: &'static str,
}

/// The period type not published under disclosure control in measures
/// counting over report periods (see [`Measure::controlled_rows`]).
pub const UNCONTROLLED_PERIOD_TYPE: &str = "calendar_year";

impl Measure {
    /// Every row, in the measure's order: what analysts get.
    pub fn all_rows(&self) -> String {
        format!("SELECT * FROM {} ORDER BY {}", self.view, self.order_by)
    }

    /// The rows published under disclosure control: no calendar years in
    /// measures counting over report periods. A calendar year straddles two
    /// financial years, so each overlaps the next, and the audit that would
    /// let them be published together (`crate::disclosure::time`) links
    /// every period of a key into one linear program: on the demo lake the
    /// partner audit went from 7 s to 638 s. Analysts, who see exact
    /// counts, have them; public data.police.uk rows (months, financial and
    /// calendar years, sums of months) keep them.
    pub fn controlled_rows(&self) -> String {
        if self.spec.in_time.is_empty() {
            return self.all_rows();
        }
        format!("SELECT * FROM {} WHERE period_type IS DISTINCT FROM '{UNCONTROLLED_PERIOD_TYPE}' ORDER BY {}", self.view, self.order_by)
    }
}

macro_rules! measure {
    ($id:literal, $file:literal, $title:literal, n: [$($n:literal),*], spec: $spec:expr, order: $order:literal) => {
        Measure {
            id: $id,
            title: $title,
            view: concat!("measure_", $file),
            sql: include_str!(concat!("../../sql/measures/", $file, ".sql")),
            n_columns: &[$($n),*],
            spec: $spec,
            order_by: $order,
        }
    };
}

const NONE: Spec = Spec::NONE;

pub const MEASURES: &[Measure] = &[
    measure!("H1", "h1", "Serious violence offences", n: ["offences"], spec: declared::H1, order: "period_type, period, area_code, category"),
    measure!("H1 (public data)", "h1_public", "Serious violence offences in data.police.uk street-level data", n: ["offences"],
        spec: declared::H1_PUBLIC, order: "period_type, period, area_type, area_name, category"),
    measure!("H2", "h2", "Homicide", n: ["homicides", "homicides_3y"], spec: declared::H2, order: "period, area_code"),
    measure!("H3", "h3", "Knife and sharp-object serious violence", n: ["knife_offences", "knife_offences_victim_under_25"],
        spec: declared::H3, order: "period_type, period, area_code"),
    measure!("H4", "h4", "A&E attendances for assault by a sharp object", n: ["attendances", "attendances_under_25"],
        spec: declared::H4, order: "period_type, period, area_code"),
    measure!("H5", "h5", "Share of the region's homicides and serious violent assaults", n: ["focus_offences", "region_offences"],
        spec: declared::H5, order: "period_type, period, offence_group"),
    measure!("V1", "v1", "Victim age profile", n: ["victims"], spec: declared::V1, order: "period_type, period, offence_group, ordinal"),
    measure!("V2", "v2", "Robbery victims from outside the area", n: ["victims_home_known", "victims_from_outside"],
        spec: declared::V2, order: "period_type, period, area_group"),
    measure!("D1", "d1", "Deprivation: serious violence by IMD decile", n: ["offences"], spec: declared::D1, order: "period_type, period, imd_decile"),
    measure!("D1 (correlation)", "d1_spearman", "Deprivation: rank correlation of LSOA rates with IMD rank", n: ["lsoas"], spec: NONE, order: "period_type, period"),
    measure!("D1 (public data)", "d1_public", "Deprivation in data.police.uk street-level data", n: ["offences"], spec: declared::D1_PUBLIC, order: "period, imd_decile"),
    measure!("D2", "d2", "Deprivation: ambulance assault call-outs by IMD decile", n: ["callouts"], spec: declared::D2, order: "period_type, period, imd_decile"),
    measure!("Y1", "y1", "Serious youth violence cohort", n: ["people", "offences"], spec: declared::Y1, order: "period"),
    measure!("C1", "c1", "Cohort risk factors", n: ["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"],
        spec: declared::C1, order: "period, factor"),
    measure!("A1", "a1", "A&E violence profile: attendances aged 10-25 and ISTV completeness", n: ["n", "denominator"],
        spec: declared::A1, order: "period_type, period, item"),
    measure!("A1 (hour by day)", "a1_hour_day", "A&E violence profile: hour of day by day of week", n: ["attendances"],
        spec: declared::A1_HOUR_DAY, order: "period_type, period, day_ordinal, hour"),
    measure!("A1 (method by location)", "a1_method_location", "A&E violence profile: assault method by location type", n: ["attendances"],
        spec: declared::A1_METHOD_LOCATION, order: "period_type, period, assault_method, location_type"),
    measure!("P1", "p1", "Safety perception", n: ["answered", "agree"], spec: declared::P1, order: "period_type, period, area_code, respondents, dimension"),
    // Not counts of people or events: commitments, extracts and fields,
    // retention records, LSOAs. Published as they are.
    measure!("K1", "k1", "Delivery of commitments", n: ["commitments"], spec: NONE, order: "period_type, period, priority, status"),
    measure!("Q1", "q1", "Partner data quality: extracts", n: ["rows_read", "rows_rejected"], spec: NONE, order: "period, partner, extract_date, file_name"),
    measure!("Q1 (fields)", "q1_fields", "Partner data quality: completeness of key fields", n: ["rows_total", "rows_filled"], spec: NONE, order: "period, partner, table_name, field"),
    measure!("R1", "r1", "Retention: deletions on time, late, held, and due", n: ["deleted_on_time", "deleted_late", "past_date_not_deleted"],
        spec: NONE, order: "period, table_name"),
];

macro_rules! view {
    ($name:literal) => {
        ($name, include_str!(concat!("../../sql/views/", $name, ".sql")))
    };
}

/// Helper views, in dependency order.
pub const VIEWS: &[(&str, &str)] = &[
    view!("areas"),
    view!("area_population"),
    view!("area_population_bands"),
    view!("fy_population_year"),
    view!("crimes"),
    view!("data_years"),
    view!("data_calendar_years"),
    view!("report_periods"),
    view!("period_coverage"),
    view!("placed_crimes"),
    view!("victims"),
    view!("youth_sv_charges"),
    view!("cohort_windows"),
    view!("y1_cohort_charges"),
    view!("c1_cohort"),
    view!("focus_lsoa_periods"),
    view!("d1_lsoa_rates"),
];

pub fn find(id: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.id.eq_ignore_ascii_case(id) || m.view.trim_start_matches("measure_").eq_ignore_ascii_case(id))
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

/// Runs a measure, optionally for one period and one area type, in its order.
pub async fn run(session: &Session, m: &Measure, period: Option<&str>, area_type: Option<&str>) -> Result<Vec<RecordBatch>, QueryError> {
    Ok(frame(session, m, period, area_type).await?.collect().await?)
}

/// The measure's rows for a period and area type, as a query not yet run
/// (to stream it, see [`crate::export`]).
pub async fn frame(
    session: &Session,
    m: &Measure,
    period: Option<&str>,
    area_type: Option<&str>,
) -> Result<datafusion::dataframe::DataFrame, QueryError> {
    let df = session.ctx.table(m.view).await?;
    let has = |c: &str| df.schema().has_column_with_unqualified_name(c);
    let mut conds = Vec::new();
    if let Some(p) = period.filter(|_| has("period")) {
        conds.push(format!("period = '{}'", p.replace('\'', "''")));
    }
    if let Some(a) = area_type.filter(|_| has("area_type")) {
        conds.push(format!("area_type = '{}'", a.replace('\'', "''")));
    }
    let filter = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    let sql = format!("SELECT * FROM {}{filter} ORDER BY {}", m.view, m.order_by);
    Ok(session.ctx.sql(&sql).await?)
}

/// The measures named, each found by id or view name (`H1`, `h1`,
/// `h1_public`, `measure_h1`); an unknown name is an error listing them.
pub fn select(names: &[String]) -> Result<Vec<&'static Measure>, QueryError> {
    if names.is_empty() {
        return Ok(MEASURES.iter().collect());
    }
    let mut out: Vec<&'static Measure> = Vec::new();
    for n in names {
        let Some(m) = find(n.trim_start_matches("measure_")) else {
            let known: Vec<&str> = MEASURES.iter().map(|m| m.view.trim_start_matches("measure_")).collect();
            return Err(QueryError::Invalid(format!("unknown measure {n:?}: the measures are {}", known.join(", "))));
        };
        if !out.iter().any(|o| o.id == m.id) {
            out.push(m);
        }
    }
    // In the catalogue's order, as the report has them.
    out.sort_by_key(|m| MEASURES.iter().position(|x| x.id == m.id));
    Ok(out)
}

/// A sentence for a year (financial or calendar) the police data do not
/// fully cover ("2024/25 is partial: ..."), from `period_coverage`; `None`
/// for a full year or one the data do not reach.
pub async fn partial_note(session: &Session, year: &str) -> Result<Option<String>, QueryError> {
    let sql = format!(
        "SELECT months_covered, months_in_period FROM period_coverage WHERE period = '{}' AND period_type IN ('financial_year', 'calendar_year') AND partial",
        year.replace('\'', "''")
    );
    let batches = session.ctx.sql(&sql).await?.collect().await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
    let value = |c: usize| datafusion::arrow::util::display::array_value_to_string(b.column(c), 0).unwrap_or_default();
    Ok(Some(format!(
        "{year} is partial: the police data cover {} of its {} months, so its counts are not comparable with a full year's",
        value(0),
        value(1)
    )))
}

/// Measures published as they are, with why: none counts people or events.
pub const NOT_COUNTS: &[(&str, &str)] = &[
    ("measure_d1_spearman", "a correlation over LSOAs; lsoas counts places"),
    ("measure_k1", "commitments of the strategy"),
    ("measure_q1", "rows of partners' extracts"),
    ("measure_q1_fields", "rows of partners' extracts"),
    ("measure_r1", "records a retention run erased, held or has due (counts of records by table and partner, never of people)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `all_events` (the data-quality measures' input) unions every event
    /// table partners send: a table missing from it would be missing from
    /// Q1 without any error. It is generated from the registry; this
    /// checks the generator.
    #[test]
    fn all_events_unions_every_event_table() {
        let sql = crate::tables::all_events_sql();
        let mut named: Vec<&str> =
            sql.split("FROM ").skip(1).filter_map(|r| r.split_whitespace().next()).map(|t| t.trim_end_matches("_log")).collect();
        named.sort();
        let mut tables: Vec<&str> =
            vru_model::tables::Table::ALL.iter().filter(|t| **t != vru_model::tables::Table::ExtractReceipts).map(|t| t.name()).collect();
        tables.sort();
        assert_eq!(named, tables);
    }

    #[test]
    fn every_measure_declares_its_structure() {
        let terms: Vec<_> = MEASURES.iter().flat_map(|m| m.spec.relations).flat_map(|r| r.total.iter().chain(r.parts)).collect();
        for m in MEASURES {
            if m.spec.counts.is_empty() {
                assert!(NOT_COUNTS.iter().any(|(v, _)| *v == m.view), "{} declares no counts and is not listed in NOT_COUNTS", m.view);
                continue;
            }
            for c in m.spec.counts {
                assert!(m.sql.contains(c), "{}: count column {c} is not in its SQL", m.view);
                let related = terms.iter().any(|t| t.view == m.view && t.column == *c);
                let standalone = m.spec.standalone.iter().any(|(s, _)| s == c);
                assert!(related || standalone, "{}.{c} is in no relation and not declared standalone", m.view);
            }
            for (name, d) in m.spec.derived {
                assert!(m.sql.contains(name), "{}: derived column {name} is not in its SQL", m.view);
                for s in d.sources() {
                    assert!(m.spec.counts.contains(&s), "{}.{name} is derived from {s}, which is not a declared count", m.view);
                }
            }
        }
        for t in &terms {
            let m = MEASURES.iter().find(|m| m.view == t.view).unwrap_or_else(|| panic!("a relation names {}, not a measure", t.view));
            assert!(m.spec.counts.contains(&t.column), "a relation reads {}.{}, not a declared count", t.view, t.column);
        }
    }
}

/// The `[measures]` section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasureConfig {
    /// Serious-violence definition: a built-in name (`local`) or a path to
    /// a definition file.
    pub definition: String,
    /// Local authority codes of the focus area. Empty: every local
    /// authority in the lookup table.
    pub focus_area: Vec<String>,
    /// How the focus area is named in outputs.
    pub focus_name: String,
    /// Years in the youth cohort window (Y1, C1).
    pub cohort_years: i32,
    /// Where `vru measures`, `vru report`, `vru disclosure`, `vru sql` and
    /// the demo write the current state they compute once (Parquet) and
    /// spill to, under a memory pool of `memory_limit`. Unset: the current
    /// state is held in memory and queries may hold up to half the
    /// machine's memory, never spilling (`crate::machine_cap`; faster: on the
    /// 10x city `vru measures` took 21 s in memory and 27-31 s on disk; the
    /// report peaked at 1.08 GB in memory and 357-390 MB on disk in the
    /// release build). Each run's files are removed when it ends, or by the
    /// next run if it was killed: see [`crate::Scratch`].
    pub scratch_dir: Option<std::path::PathBuf>,
    /// Memory those commands' queries may hold before spilling to
    /// `scratch_dir` (`512MiB`); read only when `scratch_dir` is set.
    /// Sorts spill; hash joins and some aggregates cannot, and a query
    /// that needs more fails with an error naming this setting. The
    /// process holds ~250 MB besides on the 10x city (its base, Parquet
    /// reading, the report and the audit).
    pub memory_limit: String,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        MeasureConfig {
            definition: "local".into(),
            focus_area: Vec::new(),
            focus_name: "Focus area".into(),
            cohort_years: 3,
            scratch_dir: None,
            memory_limit: "512MiB".into(),
        }
    }
}
