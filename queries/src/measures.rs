//! The measure files. Each is plain SQL an analyst can read and run; the
//! header comment says what it measures, its parameters and its
//! denominator, and the session registers it as the view `measure_<file>`.
//! Beside the SQL, each measure declares what disclosure control needs to
//! know (which columns count people or events, what is derived from them,
//! which rows add up to which) and a total order for its rows, so a report
//! written twice from the same data is byte-identical.

use crate::disclosure::{Derived, Margin, Spec};
use crate::{QueryError, Session};
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

const R: Derived = Derived::Rate;
const S: Derived = Derived::Statistic;

macro_rules! measure {
    ($id:literal, $file:literal, $title:literal, n: [$($n:literal),*], spec: $spec:expr, order: $order:literal) => {
        Measure {
            id: $id,
            title: $title,
            view: concat!("measure_", $file),
            sql: include_str!(concat!("../sql/measures/", $file, ".sql")),
            n_columns: &[$($n),*],
            spec: $spec,
            order_by: $order,
        }
    };
}

const NONE: Spec = Spec { counts: &[], derived: &[], margins: &[], column_margins: &[] };

pub const MEASURES: &[Measure] = &[
    measure!("H1", "h1", "Serious violence offences", n: ["offences"],
        spec: Spec {
            counts: &["offences", "previous_offences"],
            derived: &[("rate_per_1000", R, &["offences"]), ("change", S, &["offences", "previous_offences"]), ("change_pct", S, &["offences", "previous_offences"])],
            margins: &[Margin { group_by: &["period", "period_type", "area_code"], label: "category", total: "total", excluded: &["asb"] }],
            column_margins: &[],
        },
        order: "period_type, period, area_code, category"),
    measure!("H1 (public data)", "h1_public", "Serious violence offences in data.police.uk street-level data", n: ["offences"],
        spec: Spec {
            counts: &["offences"],
            derived: &[],
            margins: &[Margin { group_by: &["period", "period_type", "area_type", "area_name"], label: "category", total: "total", excluded: &["asb"] }],
            column_margins: &[],
        },
        order: "period_type, period, area_type, area_name, category"),
    measure!("H2", "h2", "Homicide", n: ["homicides", "homicides_3y"],
        spec: Spec {
            counts: &["homicides", "previous_homicides", "homicides_3y"],
            derived: &[("rate_per_million", R, &["homicides"]), ("change", S, &["homicides", "previous_homicides"]), ("rate_3y_per_million", R, &["homicides_3y"])],
            margins: &[],
            column_margins: &[],
        },
        order: "period, area_code"),
    measure!("H3", "h3", "Knife and sharp-object serious violence", n: ["knife_offences", "knife_offences_victim_under_25"],
        spec: Spec {
            counts: &["knife_offences", "knife_offences_victim_under_25", "previous_knife_offences"],
            derived: &[
                ("rate_per_1000", R, &["knife_offences"]),
                ("rate_under_25_per_1000", R, &["knife_offences_victim_under_25"]),
                ("change", S, &["knife_offences", "previous_knife_offences"]),
                ("change_pct", S, &["knife_offences", "previous_knife_offences"]),
            ],
            margins: &[],
            column_margins: &[],
        },
        order: "period_type, period, area_code"),
    measure!("H4", "h4", "A&E attendances for assault by a sharp object", n: ["attendances", "attendances_under_25"],
        spec: Spec {
            counts: &["attendances", "attendances_under_25", "attendances_all_residences", "previous_attendances"],
            derived: &[("rate_per_100000", R, &["attendances"]), ("rate_under_25_per_100000", R, &["attendances_under_25"]), ("change", S, &["attendances", "previous_attendances"])],
            margins: &[],
            column_margins: &[],
        },
        order: "period_type, period, area_code"),
    measure!("H5", "h5", "Share of the region's homicides and serious violent assaults", n: ["focus_offences", "region_offences"],
        spec: Spec { counts: &["focus_offences", "region_offences"], derived: &[("focus_share_pct", S, &["focus_offences", "region_offences"])], margins: &[], column_margins: &[] },
        order: "period_type, period, offence_group"),
    measure!("V1", "v1", "Victim age profile", n: ["victims"],
        spec: Spec {
            counts: &["victims", "victims_age_unknown"],
            derived: &[("pct", S, &["victims"]), ("median_age", S, &["victims"]), ("lower_quartile", S, &["victims"]), ("upper_quartile", S, &["victims"])],
            margins: &[Margin { group_by: &["period", "period_type", "offence_group"], label: "age_band", total: "all", excluded: &[] }],
            column_margins: &[],
        },
        order: "period_type, period, offence_group, ordinal"),
    measure!("V2", "v2", "Robbery victims from outside the area", n: ["victims_home_known", "victims_from_outside"],
        spec: Spec {
            counts: &["victims_home_known", "victims_from_outside", "victims_home_unknown"],
            derived: &[("pct_from_outside", S, &["victims_from_outside", "victims_home_known"])],
            margins: &[],
            column_margins: &[],
        },
        order: "period_type, period, area_group"),
    measure!("D1", "d1", "Deprivation: serious violence by IMD decile", n: ["offences"],
        spec: Spec { counts: &["offences", "offences_in_rate"], derived: &[("rate_per_1000", R, &["offences_in_rate"])], margins: &[], column_margins: &[] },
        order: "period_type, period, imd_decile"),
    measure!("D1 (correlation)", "d1_spearman", "Deprivation: rank correlation of LSOA rates with IMD rank", n: ["lsoas"], spec: NONE, order: "period_type, period"),
    measure!("D1 (public data)", "d1_public", "Deprivation in data.police.uk street-level data", n: ["offences"],
        spec: Spec { counts: &["offences"], derived: &[("rate_per_1000", R, &["offences"])], margins: &[], column_margins: &[] },
        order: "period, imd_decile"),
    measure!("Y1", "y1", "Serious youth violence cohort", n: ["people", "offences"],
        spec: Spec {
            counts: &["people", "offences", "male", "offences_robbery", "offences_violence_against_the_person", "offences_drug_offences", "offences_other"],
            derived: &[("pct_male", S, &["male", "people"]), ("mean_age_first_charge", S, &["people"])],
            margins: &[],
            column_margins: &[("offences", &["offences_robbery", "offences_violence_against_the_person", "offences_drug_offences", "offences_other"])],
        },
        order: "period"),
    measure!("C1", "c1", "Cohort risk factors", n: ["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"],
        spec: Spec {
            counts: &["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"],
            derived: &[
                ("cohort_pct", S, &["cohort_n", "cohort_denominator"]),
                ("comparison_pct", S, &["comparison_n", "comparison_denominator"]),
                ("relative_risk", S, &["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"]),
            ],
            margins: &[],
            column_margins: &[],
        },
        order: "period, factor"),
    measure!("A1", "a1", "A&E violence profile: attendances aged 10-25 and ISTV completeness", n: ["n", "denominator"],
        spec: Spec { counts: &["n", "denominator"], derived: &[("pct_complete", S, &["n", "denominator"])], margins: &[], column_margins: &[] },
        order: "period_type, period, item"),
    measure!("A1 (hour by day)", "a1_hour_day", "A&E violence profile: hour of day by day of week", n: ["attendances"],
        spec: Spec { counts: &["attendances"], derived: &[], margins: &[], column_margins: &[] },
        order: "period_type, period, day_ordinal, hour"),
    measure!("A1 (method by location)", "a1_method_location", "A&E violence profile: assault method by location type", n: ["attendances"],
        spec: Spec {
            counts: &["attendances"],
            derived: &[],
            margins: &[Margin { group_by: &["period", "period_type", "assault_method"], label: "location_type", total: "all", excluded: &[] }],
            column_margins: &[],
        },
        order: "period_type, period, assault_method, location_type"),
    measure!("P1", "p1", "Safety perception", n: ["answered", "agree"],
        spec: Spec { counts: &["answered", "agree"], derived: &[("pct_agree", S, &["agree", "answered"])], margins: &[], column_margins: &[] },
        order: "period_type, period, area_code, respondents, dimension"),
    measure!("K1", "k1", "Delivery of commitments", n: ["commitments"], spec: NONE, order: "period_type, period, priority, status"),
    measure!("Q1", "q1", "Partner data quality: extracts", n: ["rows_read", "rows_rejected"], spec: NONE, order: "period, partner, extract_date, file_name"),
    measure!("Q1 (fields)", "q1_fields", "Partner data quality: completeness of key fields", n: ["rows_total", "rows_filled"], spec: NONE, order: "period, partner, table_name, field"),
    // R1 counts records (not people) from the retention runs' management
    // information: no cell can single out a person, but the counts are
    // declared so each audience's rounding applies as to every other count.
    measure!("R1", "r1", "Retention: deletions on time, late, held, and due", n: ["deleted_on_time", "deleted_late", "past_date_not_deleted"],
        spec: Spec {
            counts: &["deleted_on_time", "deleted_late", "withdrawn", "held", "past_date_not_deleted", "extended", "due_30", "due_90"],
            derived: &[("mean_days_late", S, &["deleted_late"]), ("max_days_late", S, &["deleted_late"])],
            margins: &[],
            column_margins: &[],
        },
        order: "period, table_name"),
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
    view!("area_population_bands"),
    view!("fy_population_year"),
    view!("crimes"),
    view!("data_years"),
    view!("report_periods"),
    view!("placed_crimes"),
    view!("victims"),
    view!("youth_sv_charges"),
    view!("cohort_windows"),
    view!("y1_cohort_charges"),
    view!("c1_cohort"),
    view!("d1_lsoa_rates"),
    view!("all_events"),
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
    Ok(session.ctx.sql(&sql).await?.collect().await?)
}
