//! The demo path end to end (generate, ingest through the embedded Kafka,
//! normalise into Delta, measure with SQL) against the generator's planted
//! truths: every H1, H2, Y1 and C1 figure must agree.

mod common;

use common::*;
use std::collections::HashMap;
use vru_ingest::lake::Lake;
use vru_queries::datafusion::arrow::record_batch::RecordBatch;
use vru_synth::truth::Truth;

async fn rows(session: &vru_queries::Session, sql: &str) -> Vec<HashMap<String, Option<String>>> {
    let batches: Vec<RecordBatch> = session.ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<(String, Vec<Option<String>>)> =
            b.schema().fields().iter().zip(b.columns()).map(|(f, c)| (f.name().clone(), string_values(c.as_ref()))).collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|(n, v)| (n.clone(), v[i].clone())).collect());
        }
    }
    out
}

fn num(row: &HashMap<String, Option<String>>, col: &str) -> f64 {
    row[col].as_deref().unwrap_or("NaN").parse().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_equal_planted_truths() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &small_city(4));
    let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&summary.truth_file).unwrap()).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    load_reference(&lake, &summary).await;
    let t = std::time::Instant::now();
    let report = run_landing(&lake, &landing_dir(&summary)).await;
    eprintln!("pipeline: {:?}, {:?}", t.elapsed(), report.normaliser);
    assert!(report.receipts.iter().all(|r| r.rows_rejected == 0), "generated extracts are valid");
    let s = session(lake.root(), summary.focus_area.clone()).await;
    let mut wrong = Vec::new();

    let h1 = rows(&s, "SELECT * FROM measure_h1").await;
    let h1: HashMap<(String, String, String), &HashMap<String, Option<String>>> =
        h1.iter().map(|r| ((r["period"].clone().unwrap(), r["area_code"].clone().unwrap(), r["category"].clone().unwrap()), r)).collect();
    assert_eq!(h1.len(), truth.h1.len(), "H1 row count");
    for t in &truth.h1 {
        let Some(r) = h1.get(&(t.period.clone(), t.area_code.clone(), t.category.clone())) else {
            wrong.push(format!("H1 missing {} {} {}", t.period, t.area_code, t.category));
            continue;
        };
        let got = (num(r, "offences") as u64, num(r, "population") as u64, num(r, "population_year") as i32);
        if got != (t.offences, t.population, t.population_year) {
            wrong.push(format!(
                "H1 {} {} {}: got {got:?}, planted {:?}",
                t.period,
                t.area_code,
                t.category,
                (t.offences, t.population, t.population_year)
            ));
        }
        let rate = t.offences as f64 * 1000.0 / t.population as f64;
        if (num(r, "rate_per_1000") - rate).abs() > 0.006 {
            wrong.push(format!("H1 {} {} {} rate {} vs {rate}", t.period, t.area_code, t.category, num(r, "rate_per_1000")));
        }
    }

    let h2 = rows(&s, "SELECT * FROM measure_h2").await;
    for t in &truth.h2 {
        let Some(r) = h2.iter().find(|r| r["period"].as_deref() == Some(&t.period) && r["area_code"].as_deref() == Some(&t.area_code))
        else {
            wrong.push(format!("H2 missing {} {}", t.period, t.area_code));
            continue;
        };
        let opt = |c: &str| r[c].as_deref().map(|v| v.parse::<u64>().unwrap());
        let got = (num(r, "homicides") as u64, num(r, "population") as u64, opt("homicides_3y"), opt("population_3y"));
        if got != (t.homicides, t.population, t.homicides_3y, t.population_3y) {
            wrong.push(format!(
                "H2 {} {}: got {got:?}, planted {:?}",
                t.period,
                t.area_code,
                (t.homicides, t.population, t.homicides_3y, t.population_3y)
            ));
        }
    }

    let y1 = rows(&s, "SELECT * FROM measure_y1").await;
    assert_eq!(y1.len(), truth.y1.len(), "Y1 windows");
    for t in &truth.y1 {
        let r = y1.iter().find(|r| r["period"].as_deref() == Some(&t.period)).expect("Y1 period");
        let got = (num(r, "people") as u64, num(r, "offences") as u64, num(r, "male") as u64);
        if got != (t.people, t.offences, t.male) || (num(r, "mean_age_first_charge") - t.mean_age_first_charge).abs() > 0.051 {
            wrong.push(format!(
                "Y1 {}: got {got:?} mean {}, planted {:?} mean {}",
                t.period,
                num(r, "mean_age_first_charge"),
                (t.people, t.offences, t.male),
                t.mean_age_first_charge
            ));
        }
        for (group, n) in &t.offences_by_group {
            if num(r, &format!("offences_{group}")) as u64 != *n {
                wrong.push(format!("Y1 {} group {group}: got {}, planted {n}", t.period, num(r, &format!("offences_{group}"))));
            }
        }
    }

    let c1 = rows(&s, "SELECT * FROM measure_c1").await;
    for t in &truth.c1 {
        let r = c1.iter().find(|r| r["period"].as_deref() == Some(&t.period) && r["factor"].as_deref() == Some(&t.factor)).expect("C1 row");
        let got = (
            num(r, "cohort_n") as u64,
            num(r, "cohort_denominator") as u64,
            num(r, "comparison_n") as u64,
            num(r, "comparison_denominator") as u64,
        );
        if got != (t.cohort_n, t.cohort_denominator, t.comparison_n, t.comparison_denominator) {
            wrong.push(format!(
                "C1 {} {}: got {got:?}, planted {:?}",
                t.period,
                t.factor,
                (t.cohort_n, t.cohort_denominator, t.comparison_n, t.comparison_denominator)
            ));
        }
    }
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
    // The planted city must exercise the measures, or agreement proves little.
    let homicides: u64 = truth.h1.iter().filter(|t| t.category == "homicide" && t.area_code == "focus").map(|t| t.offences).sum();
    assert!(homicides > 0, "no homicide planted");
    assert!(truth.y1.iter().all(|t| t.people >= 10), "{:?}", truth.y1);
    assert!(truth.c1.iter().all(|t| t.cohort_n > 0 && t.comparison_n > 0), "{:?}", truth.c1);
}
