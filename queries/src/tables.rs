//! In-memory tables built from configuration rather than data: the
//! serious-violence definition as a lookup table, the offence catalogue,
//! the focus area, financial years and run parameters. Making them tables
//! lets analysts read exactly what a measure used (`SELECT * FROM
//! sv_classification`) and lets the SQL classify with plain equi-joins.

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use std::sync::Arc;
use vru_model::classification::{Catalogue, Definition};
use vru_model::period::Window;

fn table(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Arc<MemTable> {
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match fields");
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("one partition"))
}

fn strings<'a>(v: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

/// `event_fields(table_name, field, ordinal)`: the envelope fields each
/// event table's sources fill (from the source registry), which the
/// data-quality measure Q1 reports the completeness of.
pub fn event_fields() -> Arc<MemTable> {
    use vru_model::sources::{QUALITY_FIELDS, recorded_fields};
    let rows: Vec<(&str, &str, i32)> = vru_model::tables::Table::ALL
        .iter()
        .flat_map(|t| {
            recorded_fields(*t)
                .into_iter()
                .map(move |f| (t.name(), f, QUALITY_FIELDS.iter().position(|o| *o == f).expect("a quality field") as i32 + 1))
        })
        .collect();
    table(
        vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("field", DataType::Utf8, false),
            Field::new("ordinal", DataType::Int32, false),
        ],
        vec![
            strings(rows.iter().map(|r| r.0)),
            strings(rows.iter().map(|r| r.1)),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
}

/// `all_events`: every event of every table partners send, every version,
/// with the envelope fields data quality checks and the table it is in.
/// Generated from the registry, so a new source is in it without an edit.
pub fn all_events_sql() -> String {
    vru_model::tables::Table::ALL
        .iter()
        .filter(|t| vru_model::sources::extract_kinds(**t).next().is_some())
        .map(|t| {
            format!(
                "SELECT '{name}' AS table_name, partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM {name}_log",
                name = t.name()
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL ")
}

/// `sv_classification(offence_code, knife, firearm, domestic, category)`:
/// every catalogue code and flag combination that the definition counts.
pub fn sv_classification(def: &Definition, cat: &Catalogue) -> Arc<MemTable> {
    let rows = def.lookup_rows(cat);
    let flag = |f: fn(&vru_model::classification::LookupRow<'_>) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    table(
        vec![
            Field::new("offence_code", DataType::Utf8, false),
            Field::new("knife", DataType::Boolean, false),
            Field::new("firearm", DataType::Boolean, false),
            Field::new("domestic", DataType::Boolean, false),
            Field::new("category", DataType::Utf8, false),
        ],
        vec![
            strings(rows.iter().map(|r| r.offence.code.as_str())),
            flag(|r| r.knife),
            flag(|r| r.firearm),
            flag(|r| r.domestic),
            strings(rows.iter().map(|r| r.category.id.as_str())),
        ],
    )
}

/// `sv_categories(category, label, ordinal)` in the definition's order.
pub fn sv_categories(def: &Definition) -> Arc<MemTable> {
    table(
        vec![
            Field::new("category", DataType::Utf8, false),
            Field::new("label", DataType::Utf8, false),
            Field::new("ordinal", DataType::Int32, false),
        ],
        vec![
            strings(def.categories.iter().map(|c| c.id.as_str())),
            strings(def.categories.iter().map(|c| c.label.as_str())),
            Arc::new(Int32Array::from_iter_values(0..def.categories.len() as i32)),
        ],
    )
}

/// `offence_codes(offence_code, description, offence_group)`.
pub fn offence_codes(cat: &Catalogue) -> Arc<MemTable> {
    table(
        vec![
            Field::new("offence_code", DataType::Utf8, false),
            Field::new("description", DataType::Utf8, false),
            Field::new("offence_group", DataType::Utf8, false),
        ],
        vec![
            strings(cat.offences.iter().map(|o| o.code.as_str())),
            strings(cat.offences.iter().map(|o| o.description.as_str())),
            strings(cat.offences.iter().map(|o| o.group.as_str())),
        ],
    )
}

/// `focus_area(la_code)`: the local authorities the VRU reports on.
pub fn focus_area(codes: &[String]) -> Arc<MemTable> {
    table(vec![Field::new("la_code", DataType::Utf8, false)], vec![strings(codes.iter().map(String::as_str))])
}

/// `financial_years(fy_start, period, start_ts, end_ts)`, half-open, from
/// 1990/91 to 2049/50: a fixed range keeps measure SQL free of date arithmetic.
pub fn financial_years() -> Arc<MemTable> {
    years("fy_start", 4, |y| vru_model::period::FinancialYear { start_year: y }.to_string())
}

/// `calendar_years(year, period, start_ts, end_ts)`, half-open, labelled
/// `2023`, over the same range as [`financial_years`]: how data.police.uk
/// and many partners count.
pub fn calendar_years() -> Arc<MemTable> {
    years("year", 1, |y| y.to_string())
}

/// Years 1990 to 2049 starting on the first of `month`: the starting
/// calendar year (named `key`), the label, and the half-open span.
fn years(key: &str, month: u32, label: impl Fn(i32) -> String) -> Arc<MemTable> {
    let years: Vec<i32> = (1990..2050).collect();
    let ts = |y: i32| NaiveDate::from_ymd_opt(y, month, 1).expect("date").and_hms_opt(0, 0, 0).expect("time").and_utc().timestamp_micros();
    let labels: Vec<String> = years.iter().map(|y| label(*y)).collect();
    let local = DataType::Timestamp(TimeUnit::Microsecond, None);
    table(
        vec![
            Field::new(key, DataType::Int32, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("start_ts", local.clone(), false),
            Field::new("end_ts", local, false),
        ],
        vec![
            Arc::new(Int32Array::from(years.clone())),
            strings(labels.iter().map(String::as_str)),
            Arc::new(TimestampMicrosecondArray::from(years.iter().map(|y| ts(*y)).collect::<Vec<_>>())),
            Arc::new(TimestampMicrosecondArray::from(years.iter().map(|y| ts(y + 1)).collect::<Vec<_>>())),
        ],
    )
}

/// `sv_crime_types(crime_type, category)`: data.police.uk crime types in
/// the definition. Definitions written for offence codes have none, so the
/// built-in `police-uk-public` stands in for them.
pub fn sv_crime_types(def: &Definition) -> Arc<MemTable> {
    let fallback;
    let def = if def.categories.iter().any(|c| !c.crime_types.is_empty()) {
        def
    } else {
        fallback = Definition::builtin("police-uk-public").expect("built-in definition");
        &fallback
    };
    let pairs: Vec<(&str, &str)> =
        def.categories.iter().flat_map(|c| c.crime_types.iter().map(move |t| (t.as_str(), c.id.as_str()))).collect();
    table(
        vec![Field::new("crime_type", DataType::Utf8, false), Field::new("category", DataType::Utf8, false)],
        vec![strings(pairs.iter().map(|p| p.0)), strings(pairs.iter().map(|p| p.1))],
    )
}

/// Run parameters measures read: the reference date and the rolling
/// 12-month window ending on it (and the one a year before), the cohort
/// window length and the focus area's name.
pub fn params(as_of: NaiveDate, cohort_years: i32, focus_name: &str) -> Arc<MemTable> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
    let w = Window::ending(as_of, 12);
    let prev = w.year_before();
    let ts = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros();
    let local = DataType::Timestamp(TimeUnit::Microsecond, None);
    let label = |w: &Window| format!("12 months to {}", w.end_exclusive.pred_opt().expect("date"));
    // The year of the 30 June inside the window: its population estimate
    // is the denominator, as for a financial year.
    let mid = |w: &Window| if w.start.month() <= 6 { w.start.year() } else { w.start.year() + 1 };
    table(
        vec![
            Field::new("as_of", DataType::Date32, false),
            Field::new("cohort_years", DataType::Int32, false),
            Field::new("focus_name", DataType::Utf8, false),
            Field::new("rolling_label", DataType::Utf8, false),
            Field::new("rolling_start", local.clone(), false),
            Field::new("rolling_end", local.clone(), false),
            Field::new("rolling_mid_year", DataType::Int32, false),
            Field::new("rolling_prev_label", DataType::Utf8, false),
            Field::new("rolling_prev_start", local.clone(), false),
            Field::new("rolling_prev_end", local, false),
        ],
        vec![
            Arc::new(Date32Array::from(vec![(as_of - epoch).num_days() as i32])),
            Arc::new(Int32Array::from(vec![cohort_years])),
            strings([focus_name]),
            strings([label(&w).as_str()]),
            Arc::new(TimestampMicrosecondArray::from(vec![ts(w.start)])),
            Arc::new(TimestampMicrosecondArray::from(vec![ts(w.end_exclusive)])),
            Arc::new(Int32Array::from(vec![mid(&w)])),
            strings([label(&prev).as_str()]),
            Arc::new(TimestampMicrosecondArray::from(vec![ts(prev.start)])),
            Arc::new(TimestampMicrosecondArray::from(vec![ts(prev.end_exclusive)])),
        ],
    )
}
