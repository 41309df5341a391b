//! How the SQL service follows the lake (issue 13, freshness): a commit is
//! served at the next poll in a quick generation that computes nothing
//! (its tables read the new snapshot, its measures are the warmed ones),
//! and the measures follow when a full generation has been warmed behind
//! it. Driven step by step here (`notice`, `catch_up`); `vru serve` runs
//! the same steps in its background loop (tests/server.rs times it).

mod common;

use common::*;
use std::sync::Arc;
use vru_ingest::lake::Lake;
use vru_model::classification::Definition;
use vru_queries::datafusion::prelude::SessionContext;
use vru_queries::{LakeSource, SessionOptions};
use vru_server::catalog::Catalogs;

async fn one(ctx: &SessionContext, sql: &str) -> String {
    let grid = vru_queries::report::grid_of(&ctx.sql(sql).await.unwrap().collect().await.unwrap()).unwrap();
    grid.rows[0][0].clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_served_at_once_and_its_measures_follow() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), &vru_synth::CityConfig { scale: 0.25, ..small_city(11) });
    let lake = Lake::new(dir.path().join("lake"));
    load_reference(&lake, &summary).await;
    run_landing(&lake, &landing_dir(&summary)).await;
    let opts = SessionOptions {
        materialise: vru_queries::Materialise::AtBuild,
        ..SessionOptions::new(
            LakeSource::Delta { lake: lake.clone(), versions: Default::default() },
            Definition::builtin("local").unwrap(),
            summary.focus_area.clone(),
        )
    };
    let cats = Catalogs::new(opts, std::time::Duration::from_secs(3600), Default::default()).await.unwrap();
    let first = cats.current().await;
    first.warm().await;
    assert!(!cats.notice().await.unwrap(), "nothing new in the lake");
    assert!(!cats.catch_up().await.unwrap(), "the served generation is warm");

    let ctx = first.for_principal(&analyst()).await.unwrap().ctx;
    let before = one(&ctx, "SELECT count(*) FROM police_offences_log").await.parse::<i64>().unwrap();
    let q1 = "SELECT count(*) FROM measure_q1 WHERE partner = 'police-southshire' AND CAST(extract_date AS VARCHAR) = '2023-07-01'";
    assert_eq!(one(&ctx, q1).await, "0");

    // A partner's new extract, committed by the normaliser.
    let landing = dir.path().join("more");
    std::fs::create_dir_all(landing.join("police-southshire")).unwrap();
    let p = "b".repeat(64);
    let mut csv = String::from("record_id,crime_ref,offence_code,committed_at,offence_lsoa,role,person_id,age\n");
    for i in 0..20 {
        csv.push_str(&format!("s{i},{p},34B,2023-06-01 22:00,E01000001,victim,{p},17\n"));
    }
    std::fs::write(landing.join("police-southshire/offences_2023-07-01.csv"), csv).unwrap();
    run_landing(&lake, &landing).await;

    // Served at the next poll: the tables are the new snapshot's, the
    // measures the warmed generation's very providers (nothing computed).
    assert!(cats.notice().await.unwrap());
    let quick = cats.current().await;
    assert!(quick.quick && quick.id > first.id);
    let ctx = quick.for_principal(&analyst()).await.unwrap().ctx;
    assert_eq!(one(&ctx, "SELECT count(*) FROM police_offences_log").await.parse::<i64>().unwrap(), before + 20);
    assert_eq!(one(&ctx, "SELECT count(*) FROM police_offences WHERE partner = 'police-southshire'").await, "20");
    let warmed = first.for_principal(&analyst()).await.unwrap().ctx;
    for m in ["measure_h1", "measure_q1", "measure_v1"] {
        let (a, b) = (warmed.table_provider(m).await.unwrap(), ctx.table_provider(m).await.unwrap());
        assert!(Arc::ptr_eq(&a, &b), "{m} is the warmed generation's");
    }
    assert_eq!(one(&ctx, q1).await, "0", "measures are the warmed snapshot's until the next is warm");
    assert!(!cats.notice().await.unwrap(), "nothing newer");

    // The full generation behind it: the new extract is in Q1.
    assert!(cats.catch_up().await.unwrap());
    let full = cats.current().await;
    assert!(!full.quick && full.id > quick.id);
    let ctx = full.for_principal(&analyst()).await.unwrap().ctx;
    assert_eq!(one(&ctx, q1).await, "1");
    assert_eq!(one(&ctx, "SELECT count(*) FROM police_offences_log").await.parse::<i64>().unwrap(), before + 20);
    assert!(!cats.catch_up().await.unwrap(), "warm again");
    // The publisher's catalog follows too.
    let public = full.publisher().await.unwrap().ctx;
    assert_eq!(one(&public, q1).await, "1");
}

fn analyst() -> vru_server::policy::Principal {
    vru_server::policy::Principal { user: "ana".into(), role: vru_server::policy::Role::Analyst, partner: None, stored_key: String::new() }
}
