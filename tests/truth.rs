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

type Row = HashMap<String, Option<String>>;

/// Finds the SQL row whose key columns have the given values.
fn find<'a>(rows: &'a [Row], keys: &[(&str, &str)]) -> Option<&'a Row> {
    rows.iter().find(|r| keys.iter().all(|(k, v)| r[*k].as_deref() == Some(*v)))
}

/// Compares planted figures with a row: integers exactly, fractions to the
/// SQL's rounding, `None` as NULL.
fn expect(wrong: &mut Vec<String>, what: &str, row: Option<&Row>, cols: &[(&str, Option<f64>)], tolerance: f64) {
    let Some(row) = row else {
        wrong.push(format!("{what}: no row"));
        return;
    };
    for (col, want) in cols {
        let got = row[*col].as_deref().map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
        let ok = match (got, want) {
            (None, None) => true,
            (Some(g), Some(w)) => (g - w).abs() <= tolerance,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{what} {col}: got {got:?}, planted {want:?}"));
        }
    }
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
    let s = session(lake.local_root().unwrap(), summary.focus_area.clone()).await;
    same_when_materialised(&s, lake.local_root().unwrap(), &summary.focus_area).await;
    let mut wrong = Vec::new();

    let h1 = rows(&s, "SELECT * FROM measure_h1 WHERE period_type = 'financial_year'").await;
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
    compare_more(&s, &truth, &mut wrong).await;
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
    // The planted city must exercise the measures, or agreement proves little.
    let homicides: u64 = truth.h1.iter().filter(|t| t.category == "homicide" && t.area_code == "focus").map(|t| t.offences).sum();
    assert!(homicides > 0, "no homicide planted");
    assert!(truth.y1.iter().all(|t| t.people >= 10), "{:?}", truth.y1);
    assert!(truth.c1.iter().all(|t| t.comparison_n > 0), "{:?}", truth.c1);
    for y in &truth.y1 {
        let risk: u64 = truth.c1.iter().filter(|t| t.period == y.period).map(|t| t.cohort_n).sum();
        assert!(risk > 0, "no cohort risk factor planted in {}", y.period);
    }
}

/// H3-H5, V1, V2, D1, A1, P1, K1, Q1 against their planted values.
async fn compare_more(s: &vru_queries::Session, truth: &Truth, wrong: &mut Vec<String>) {
    let fy = "period_type = 'financial_year'";
    let h3 = rows(s, &format!("SELECT * FROM measure_h3 WHERE {fy}")).await;
    for t in &truth.h3 {
        let cols = [
            ("knife_offences", Some(t.knife_offences as f64)),
            ("knife_offences_victim_under_25", Some(t.knife_offences_victim_under_25 as f64)),
            ("population", Some(t.population as f64)),
            ("population_under_25", Some(t.population_under_25 as f64)),
        ];
        expect(
            wrong,
            &format!("H3 {} {}", t.period, t.area_code),
            find(&h3, &[("period", &t.period), ("area_code", &t.area_code)]),
            &cols,
            0.0,
        );
    }
    let h4 = rows(s, &format!("SELECT * FROM measure_h4 WHERE {fy}")).await;
    for t in &truth.h4 {
        let cols = [
            ("attendances", Some(t.attendances as f64)),
            ("attendances_under_25", Some(t.attendances_under_25 as f64)),
            ("attendances_all_residences", t.attendances_all_residences.map(|v| v as f64)),
        ];
        expect(
            wrong,
            &format!("H4 {} {}", t.period, t.area_code),
            find(&h4, &[("period", &t.period), ("area_code", &t.area_code)]),
            &cols,
            0.0,
        );
    }
    let h5 = rows(s, &format!("SELECT * FROM measure_h5 WHERE {fy}")).await;
    for t in &truth.h5 {
        let cols = [("focus_offences", Some(t.focus_offences as f64)), ("region_offences", Some(t.region_offences as f64))];
        expect(
            wrong,
            &format!("H5 {} {}", t.period, t.offence_group),
            find(&h5, &[("period", &t.period), ("offence_group", &t.offence_group)]),
            &cols,
            0.0,
        );
    }
    let v1 = rows(s, &format!("SELECT * FROM measure_v1 WHERE {fy}")).await;
    for t in &truth.v1 {
        let cols = [
            ("victims", Some(t.victims as f64)),
            ("median_age", t.median_age),
            ("lower_quartile", t.lower_quartile),
            ("upper_quartile", t.upper_quartile),
        ];
        let key = [("period", t.period.as_str()), ("offence_group", t.offence_group.as_str()), ("age_band", t.age_band.as_str())];
        expect(wrong, &format!("V1 {key:?}"), find(&v1, &key), &cols, 1e-9);
    }
    let v2 = rows(s, &format!("SELECT * FROM measure_v2 WHERE {fy}")).await;
    for t in &truth.v2 {
        let cols = [
            ("victims_home_known", Some(t.victims_home_known as f64)),
            ("victims_from_outside", Some(t.victims_from_outside as f64)),
            ("victims_home_unknown", Some(t.victims_home_unknown as f64)),
        ];
        expect(
            wrong,
            &format!("V2 {} {}", t.period, t.area_group),
            find(&v2, &[("period", &t.period), ("area_group", &t.area_group)]),
            &cols,
            0.0,
        );
    }
    let d1 = rows(s, &format!("SELECT * FROM measure_d1 WHERE {fy}")).await;
    for t in &truth.d1 {
        let cols = [("lsoas", Some(t.lsoas as f64)), ("offences", Some(t.offences as f64)), ("population", Some(t.population as f64))];
        let decile = t.imd_decile.to_string();
        expect(
            wrong,
            &format!("D1 {} decile {}", t.period, decile),
            find(&d1, &[("period", &t.period), ("imd_decile", &decile)]),
            &cols,
            0.0,
        );
    }
    let rho = rows(s, &format!("SELECT * FROM measure_d1_spearman WHERE {fy}")).await;
    for t in &truth.d1_spearman {
        let cols = [("lsoas", Some(t.lsoas as f64)), ("spearman_rho", t.spearman_rho.map(|r| (r * 1000.0).round() / 1000.0))];
        expect(wrong, &format!("D1 rho {}", t.period), find(&rho, &[("period", &t.period)]), &cols, 1e-9);
    }
    let d2 = rows(s, &format!("SELECT * FROM measure_d2 WHERE {fy}")).await;
    assert!(!truth.d2.is_empty() && truth.d2.iter().any(|t| t.callouts > 0 && t.weapon_callouts > 0), "no ambulance truth planted");
    for t in &truth.d2 {
        let rate = (t.callouts as f64 * 100_000.0 / t.population as f64 * 10.0).round() / 10.0;
        let cols = [
            ("lsoas", Some(t.lsoas as f64)),
            ("callouts", Some(t.callouts as f64)),
            ("weapon_callouts", Some(t.weapon_callouts as f64)),
            ("population", Some(t.population as f64)),
            ("rate_per_100k", Some(rate)),
        ];
        let decile = t.imd_decile.to_string();
        expect(
            wrong,
            &format!("D2 {} decile {decile}", t.period),
            find(&d2, &[("period", &t.period), ("imd_decile", &decile)]),
            &cols,
            1e-9,
        );
    }
    let a1 = rows(s, &format!("SELECT * FROM measure_a1 WHERE {fy}")).await;
    let heat = rows(s, &format!("SELECT * FROM measure_a1_hour_day WHERE {fy}")).await;
    let ml = rows(s, &format!("SELECT * FROM measure_a1_method_location WHERE {fy}")).await;
    for t in &truth.a1 {
        expect(
            wrong,
            &format!("A1 {}", t.period),
            find(&a1, &[("period", &t.period), ("item", "attendances")]),
            &[("n", Some(t.attendances as f64))],
            0.0,
        );
        for (field, n) in &t.complete {
            expect(
                wrong,
                &format!("A1 {} {field}", t.period),
                find(&a1, &[("period", &t.period), ("item", field)]),
                &[("n", Some(*n as f64))],
                0.0,
            );
        }
        let cells: u64 = heat.iter().filter(|r| r["period"].as_deref() == Some(&t.period)).map(|r| num(r, "attendances") as u64).sum();
        if cells != t.attendances {
            wrong.push(format!("A1 hour-day {}: cells sum to {cells}, planted {}", t.period, t.attendances));
        }
        for (key, n) in &t.hour_day {
            let (dow, hour) = key.split_once('|').unwrap();
            let day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][dow.parse::<usize>().unwrap()];
            expect(
                wrong,
                &format!("A1 {} {day} {hour}h", t.period),
                find(&heat, &[("period", &t.period), ("day", day), ("hour", hour)]),
                &[("attendances", Some(*n as f64))],
                0.0,
            );
        }
        for (key, n) in &t.method_location {
            let (m, l) = key.split_once('|').unwrap();
            expect(
                wrong,
                &format!("A1 {} {m} {l}", t.period),
                find(&ml, &[("period", &t.period), ("assault_method", m), ("location_type", l)]),
                &[("attendances", Some(*n as f64))],
                0.0,
            );
        }
    }
    let p1 = rows(s, &format!("SELECT * FROM measure_p1 WHERE {fy}")).await;
    for t in &truth.p1 {
        let key = [
            ("period", t.period.as_str()),
            ("area_code", t.area_code.as_str()),
            ("respondents", t.respondents.as_str()),
            ("dimension", t.dimension.as_str()),
        ];
        expect(
            wrong,
            &format!("P1 {key:?}"),
            find(&p1, &key),
            &[("answered", Some(t.answered as f64)), ("agree", Some(t.agree as f64))],
            0.0,
        );
    }
    let k1 = rows(s, &format!("SELECT * FROM measure_k1 WHERE {fy}")).await;
    for t in &truth.k1 {
        let key = [("period", t.period.as_str()), ("priority", t.priority.as_str()), ("status", t.status.as_str())];
        expect(wrong, &format!("K1 {key:?}"), find(&k1, &key), &[("commitments", Some(t.commitments as f64))], 0.0);
    }
    let q1 = rows(s, "SELECT * FROM measure_q1").await;
    for t in &truth.q1 {
        let cols = [
            ("rows_read", Some(t.rows_read as f64)),
            ("rows_rejected", Some(0.0)),
            ("median_days_to_arrival", t.median_days_to_arrival.map(|d| (d * 10.0).round() / 10.0)),
            ("p90_days_to_arrival", t.p90_days_to_arrival.map(|d| (d * 10.0).round() / 10.0)),
        ];
        expect(
            wrong,
            &format!("Q1 {} {}", t.partner, t.file_name),
            find(&q1, &[("partner", &t.partner), ("file_name", &t.file_name)]),
            &cols,
            1e-9,
        );
    }
    for (name, n) in [
        ("H3", truth.h3.len()),
        ("H4", truth.h4.len()),
        ("V1", truth.v1.len()),
        ("A1", truth.a1.len()),
        ("P1", truth.p1.len()),
        ("K1", truth.k1.len()),
        ("Q1", truth.q1.len()),
    ] {
        assert!(n > 0, "{name}: nothing planted");
    }
}

/// The sessions `vru sql`, `vru measures` and the reports use (current
/// state and `crimes` computed once, `SessionOptions::materialise`, while
/// the session is built or when a query first reads them) give every
/// measure exactly the rows of the plain one: held in memory, and written
/// to a scratch directory as Parquet under a 128 MiB memory pool. The scratch files are lake rows: they exist only while the
/// session does, and a session removes what a killed one left behind.
async fn same_when_materialised(plain: &vru_queries::Session, lake: &std::path::Path, focus: &[String]) {
    let scratch = tempfile::tempdir().unwrap();
    // What a SIGKILLed run leaves: a private directory named for a pid
    // that no longer exists, holding a current-state file.
    let dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    let mut dead = dead;
    dead.wait().unwrap();
    let left = scratch.path().join(format!("vru-scratch-{dead_pid}-Ab12Cd"));
    std::fs::create_dir_all(left.join("police_offences")).unwrap();
    std::fs::write(left.join("police_offences/part-0.parquet"), b"rows of an erased record").unwrap();
    let live = scratch.path().join(format!("vru-scratch-{}-Ef34Gh", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();
    use vru_queries::Materialise::{AtBuild, OnFirstUse};
    for (on_disk, when) in [(false, AtBuild), (true, AtBuild), (false, OnFirstUse), (true, OnFirstUse)] {
        let mut o = vru_queries::SessionOptions::new(
            vru_queries::LakeSource::Delta { lake: vru_ingest::lake::Lake::new(lake), versions: Default::default() },
            vru_model::classification::Definition::builtin("local").unwrap(),
            focus.to_vec(),
        );
        o.materialise = when;
        if on_disk {
            o.scratch = Some(vru_queries::Scratch { dir: scratch.path().to_path_buf(), memory: 128 << 20 });
        }
        let m = vru_queries::build_session(&o).await.unwrap();
        if on_disk {
            assert!(!left.exists(), "a dead run's scratch files survived the next run");
            assert!(live.exists(), "a live process's scratch directory was removed");
            let dir = m.scratch.as_ref().expect("a scratch directory").path().to_path_buf();
            let files = files_under(&dir, "parquet").len();
            match when {
                AtBuild => assert!(files >= 4, "{files} Parquet files of the current state under {}", dir.display()),
                _ => assert_eq!(files, 0, "nothing computed before a query reads it"),
            }
        }
        let sorted = |rows: Vec<HashMap<String, Option<String>>>| {
            let mut v: Vec<String> =
                rows.into_iter().map(|r| format!("{:?}", r.into_iter().collect::<std::collections::BTreeMap<_, _>>())).collect();
            v.sort();
            v
        };
        let mut compared = 0;
        for measure in vru_queries::measures::MEASURES {
            let sql = format!("SELECT * FROM {}", measure.view);
            let (a, b) = (sorted(rows(plain, &sql).await), sorted(rows(&m, &sql).await));
            assert_eq!(a, b, "{} differs when materialised {when:?} (on disk: {on_disk})", measure.id);
            compared += a.len();
        }
        assert!(compared > 1_000, "{compared} rows compared");
        drop(m);
    }
    let after: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(after, vec![live.file_name().unwrap().to_owned()], "only the live process's directory is left once the session is dropped");
}
