//! The public data.police.uk sample: H1 by broad category must equal the
//! rows of the published CSVs, counted independently with Python's csv
//! module; D1 runs on it with the real IMD 2019 table.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::PathBuf;
use vru_ingest::extract::ExtractRules;
use vru_ingest::kafka::EmbeddedBroker;
use vru_ingest::lake::Lake;
use vru_ingest::pipeline::{self, Work};
use vru_ingest::reference::{self, PopulationFormat};
use vru_model::ExtractKind;
use vru_model::classification::Definition;
use vru_model::tables::Reference;
use vru_queries::{LakeSource, SessionOptions, build_session};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_h1_equals_the_published_rows_and_d1_runs_with_imd() {
    let dir = tempfile::tempdir().unwrap();
    // Copied: receipts are written beside the files, and tests/data stays clean.
    let mut csvs: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(shared().join("police_uk")).expect("tests/data/police_uk") {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "csv") {
            continue;
        }
        let copy = dir.path().join(p.file_name().unwrap());
        std::fs::copy(&p, &copy).unwrap();
        csvs.push(copy);
    }
    csvs.sort();
    assert_eq!(csvs.len(), 3);
    let lake = Lake::new(dir.path().join("lake"));
    let broker = EmbeddedBroker::start().unwrap();
    let work = Work::Files {
        files: csvs.iter().map(|p| ("police_uk-cleveland".to_string(), p.clone())).collect(),
        kind: Some(ExtractKind::StreetCrimes),
    };
    let report = pipeline::run(&lake, &kafka(), Some(&broker), work, fast_normaliser(), ExtractRules::default(), std::future::pending())
        .await
        .unwrap();
    for r in &report.receipts {
        assert_eq!(r.rows_rejected, 0, "{}: {:?}", r.file, r.issue_lines());
    }
    let imd = reference::load(&lake, Reference::Imd, &shared().join("imd2019_england_lsoa.csv"), PopulationFormat::Long).await.unwrap();
    assert_eq!((imd.rows, imd.skipped), (32_844, 0));

    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/police_uk_counts.py"))
        .args(&csvs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let by_type: HashMap<String, i64> = serde_json::from_slice(&out.stdout).unwrap();
    let def = Definition::builtin("police-uk-public").unwrap();
    let mut expected: HashMap<String, i64> = HashMap::new();
    for (crime_type, n) in &by_type {
        if crime_type == "Anti-social behaviour" {
            *expected.entry("asb".into()).or_default() += n;
        } else if let Some(c) = def.classify_crime_type(crime_type) {
            *expected.entry(c.id.clone()).or_default() += n;
            *expected.entry("total".into()).or_default() += n;
        }
    }

    let opts = SessionOptions::new(LakeSource::Delta { lake: lake.clone(), versions: Default::default() }, def, vec![]);
    let s = build_session(&opts).await.unwrap();
    // Months, the financial years (March 2022 is in 2021/22, April and May
    // in 2022/23) and the one calendar year, 2022, each add up to the
    // independent count.
    for period_type in ["month", "financial_year", "calendar_year"] {
        let sql = format!(
            "SELECT category, CAST(sum(offences) AS BIGINT) FROM measure_h1_public WHERE period_type = '{period_type}' AND area_type = 'force' GROUP BY category"
        );
        let got: HashMap<String, i64> = s
            .ctx
            .sql(&sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .flat_map(|b| {
                let cats = string_values(b.column(0).as_ref());
                let ns = string_values(b.column(1).as_ref());
                cats.into_iter().zip(ns).map(|(c, n)| (c.unwrap(), n.unwrap().parse::<i64>().unwrap())).collect::<Vec<_>>()
            })
            .collect();
        for (cat, n) in &expected {
            assert_eq!(got.get(cat), Some(n), "{period_type}: category {cat}");
        }
    }
    let years = count(&s, "SELECT count(DISTINCT period) FROM measure_h1_public WHERE period_type = 'calendar_year'").await;
    assert_eq!(years, 1, "the sample is March to May 2022");
    assert_eq!(expected["total"], 8418 + 211 + 193 + 2757, "the sample's serious-violence rows");

    // D1 on public data: every serious-violence row with an LSOA lands in an IMD decile.
    let d1 = count(&s, "SELECT CAST(sum(offences) AS BIGINT) FROM measure_d1_public").await;
    assert_eq!(d1, expected["total"]);
    let deciles = count(&s, "SELECT count(DISTINCT imd_decile) FROM measure_d1_public").await;
    assert_eq!(deciles, 10);
}

/// Re-downloading a month (other line endings, one outcome updated) through
/// the other route adds only the revised crime: ASB rows are not doubled,
/// the crime counts once with its newest outcome, and both routes ingest
/// under one partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redownloaded_month_adds_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let month = shared().join("police_uk/2022-03-cleveland-street.csv");
    let text = std::fs::read_to_string(&month).unwrap();
    let rows = text.lines().count() as i64 - 1;
    // First route: a landing folder of any police_uk-* name.
    let landing = dir.path().join("landing/police_uk-cleveland");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::copy(&month, landing.join("2022-03-cleveland-street.csv")).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    run_landing(&lake, &dir.path().join("landing")).await;
    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_uk_crimes_log").await, rows);
    let asb = count(&s, "SELECT count(*) FROM police_uk_crimes WHERE crime_type = 'Anti-social behaviour'").await;

    // Second route, `--format police-uk`: the month again with CRLF line
    // endings and the first crime's outcome revised.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let revised = lines.iter().position(|l| !l.starts_with(',') && !l.starts_with("Crime ID")).unwrap();
    let (crime_id, _) = lines[revised].split_once(',').unwrap();
    let crime_id = crime_id.to_string();
    let mut fields: Vec<String> = lines[revised].split(',').map(str::to_string).collect();
    fields[10] = "Offender given a caution".into();
    lines[revised] = fields.join(",");
    let again = dir.path().join("2022-03-cleveland-street.csv");
    std::fs::write(&again, lines.join("\r\n") + "\r\n").unwrap();
    let broker = EmbeddedBroker::start().unwrap();
    let partner = vru_model::sources::police_uk::PUBLIC_PARTNER.to_string();
    let work = Work::Files { files: vec![(partner, again)], kind: Some(ExtractKind::StreetCrimes) };
    pipeline::run(&lake, &kafka(), Some(&broker), work, fast_normaliser(), ExtractRules::default(), std::future::pending()).await.unwrap();

    let s = session(lake.local_root().unwrap(), vec![]).await;
    assert_eq!(count(&s, "SELECT count(*) FROM police_uk_crimes_log").await, rows + 1, "only the revised crime is new");
    assert_eq!(count(&s, "SELECT count(*) FROM police_uk_crimes").await, rows, "each crime and incident counted once");
    assert_eq!(count(&s, "SELECT count(*) FROM police_uk_crimes WHERE crime_type = 'Anti-social behaviour'").await, asb);
    let newest = format!(
        "SELECT count(*) FROM police_uk_crimes WHERE crime_id = '{crime_id}' AND last_outcome_category = 'Offender given a caution'"
    );
    assert_eq!(count(&s, &newest).await, 1, "the newest outcome wins");
    assert_eq!(count(&s, "SELECT count(DISTINCT partner) FROM police_uk_crimes_log").await, 1);
}
