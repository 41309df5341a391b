//! Disclosure control against an intruder with every published table, on
//! a small synthetic city's lake (suppression is frequent there):
//! - every declared relation holds on the exact numbers, with instances;
//! - the five attacks of issue 10, as SQL run inside the partner's and the
//!   publisher's own sessions (the SQL service's role catalogs), recover
//!   nothing: each states the interval it gets for every suppressed cell it
//!   attacks and asserts it is at least the protection level.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::Path;
use vru_ingest::lake::Lake;
use vru_model::classification::Definition;
use vru_queries::datafusion::prelude::SessionContext;
use vru_queries::disclosure::{self, Policy};
use vru_queries::{LakeSource, SessionOptions, build_session, report};
use vru_server::catalog::Catalogs;

/// Few events per area, so many counts are small.
fn tiny_city() -> vru_synth::CityConfig {
    vru_synth::CityConfig { scale: 0.25, ..small_city(11) }
}

async fn lake(dir: &Path) -> (Lake, Vec<String>) {
    let summary = generate(dir, &tiny_city());
    let lake = Lake::new(dir.join("lake"));
    load_reference(&lake, &summary).await;
    run_landing(&lake, &landing_dir(&summary)).await;
    (lake, summary.focus_area)
}

fn options(lake: &Lake, focus: Vec<String>) -> SessionOptions {
    SessionOptions::new(
        LakeSource::Delta { lake: lake.clone(), versions: Default::default() },
        Definition::builtin("local").unwrap(),
        focus,
    )
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<HashMap<String, Option<String>>> {
    let grid = report::grid_of(&ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).collect().await.unwrap()).unwrap();
    grid.rows.iter().map(|r| grid.columns.iter().cloned().zip(r.iter().cloned()).collect()).collect()
}

/// The bounds an intruder reads from a published text cell: `*` is at
/// least 1 and unbounded above; a number is itself, +-2 when rounded.
fn lo(cell: &str, r: i64) -> String {
    format!("coalesce(TRY_CAST({cell} AS BIGINT) - {r}, 1)")
}
fn hi(cell: &str, r: i64) -> String {
    format!("(TRY_CAST({cell} AS BIGINT) + {r})")
}

/// One attacked cell: its exact value and the interval the attack gets.
#[derive(Debug)]
struct Attacked {
    what: String,
    exact: i64,
    lo: i64,
    hi: Option<i64>,
}

/// Asserts the protection level against every attacked small cell, and
/// prints the intervals.
fn check(attack: &str, cells: &[Attacked], threshold: i64, p: i64) -> usize {
    let small: Vec<&Attacked> = cells.iter().filter(|c| (1..=threshold).contains(&c.exact)).collect();
    if small.is_empty() {
        eprintln!("{attack}: NO TARGET: the city has no small cell this attack reaches ({} cells attacked)", cells.len());
    }
    for c in &small {
        let iv = disclosure::Interval { lo: c.lo.max(1), hi: c.hi };
        eprintln!("{attack}: {} exact {} -> interval {iv}", c.what, c.exact);
        assert!(
            disclosure::audit::meets(disclosure::audit::Need::Sensitive, c.exact, 1, iv, p),
            "{attack}: {} (exact {}) is pinned to {iv}, narrower than {p} either side",
            c.what,
            c.exact
        );
    }
    eprintln!("{attack}: {} small cells attacked, none recovered within +-{p}", small.len());
    small.len()
}

fn int(row: &HashMap<String, Option<String>>, col: &str) -> i64 {
    row[col].as_deref().unwrap_or_else(|| panic!("{col} is NULL")).parse().unwrap()
}

fn opt(row: &HashMap<String, Option<String>>, col: &str) -> Option<i64> {
    row[col].as_deref().map(|v| v.parse().unwrap())
}

/// Exact values from the analyst's session by key.
async fn exact(ctx: &SessionContext, sql: &str, key: &[&str], col: &str) -> HashMap<Vec<String>, i64> {
    rows(ctx, sql).await.iter().map(|r| (key.iter().map(|k| r[*k].clone().unwrap_or_default()).collect(), int(r, col))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_relations_hold_on_the_exact_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, focus) = lake(dir.path()).await;
    // The third run ends its rolling 12 months in July: they overlap two
    // financial years, and the audit cuts time into pieces.
    for (focus, mid_year) in [(focus.clone(), false), (vec![], false), (focus.clone(), true)] {
        let mut opts = options(&lake, focus.clone());
        if mid_year {
            let s = build_session(&opts).await.unwrap();
            let last = rows(&s.ctx, "SELECT CAST(max(fy_start) AS VARCHAR) AS y FROM data_years").await;
            let y: i32 = last[0]["y"].as_deref().unwrap().parse().unwrap();
            opts.as_of = chrono::NaiveDate::from_ymd_opt(y, 7, 31);
        }
        if focus.is_empty() {
            // The default configuration: every local authority.
            let s = build_session(&opts).await.unwrap();
            let las = rows(&s.ctx, "SELECT DISTINCT CAST(la_code AS VARCHAR) AS la FROM lsoa_lookup").await;
            opts.focus_area = las.iter().map(|r| r["la"].clone().unwrap()).collect();
        }
        let session = build_session(&opts).await.unwrap();
        let outputs = report::controlled_outputs(&session).await.unwrap();
        let ctx = disclosure::Context::from_session(&session.ctx, &opts.focus_area).await.unwrap();
        let tables: Vec<_> = outputs.iter().map(|(m, g)| disclosure::Table { view: m.view, spec: &m.spec, grid: g }).collect();
        let model = disclosure::structure::instantiate(&tables, &ctx);
        assert!(model.violations.is_empty(), "relations that do not hold on the exact numbers: {:#?}", model.violations);
        // Calendar years are not published under disclosure control; a
        // rolling year ending mid-year overlaps two financial years, and
        // every count declared a sum over time is checked against its pieces.
        assert_eq!(ctx.atoms.is_some(), mid_year, "pieces of time are needed exactly when published periods overlap");
        let over_time = model.instances.get("sum over time").copied().unwrap_or(0);
        let declared: usize = vru_queries::measures::MEASURES.iter().map(|m| m.spec.in_time.len()).sum();
        assert!(!mid_year || over_time > declared * 4, "{over_time} sums over time for {declared} declared columns");
        for m in vru_queries::measures::MEASURES {
            for it in m.spec.in_time {
                assert!(m.spec.counts.contains(&it.column) && m.spec.counts.contains(&it.base), "{}: {} is not a count", m.view, it.column);
            }
            for r in m.spec.relations {
                // The synthetic city has no data.police.uk extract.
                let public_data = r.name.contains("(public data)");
                let n = model.instances.get(r.name).copied().unwrap_or(0);
                assert!(n > 0 || public_data, "relation {:?} has no instance on the demo lake: it may not match its SQL", r.name);
            }
        }
        if mid_year {
            for policy in [Policy::Partner, Policy::Public] {
                let t = std::time::Instant::now();
                let protected = disclosure::protect(&tables, &ctx, &policy.rules()).unwrap();
                eprintln!(
                    "{} with a rolling year to {:?}: {} small + {} secondary suppressed, {} exposed, {:.1} s",
                    policy.as_str(),
                    opts.as_of,
                    protected.primary,
                    protected.secondary,
                    protected.audit.exposed.len(),
                    t.elapsed().as_secs_f64()
                );
                assert!(protected.audit.exposed.is_empty(), "{:#?}", protected.audit.exposed);
            }
        }
        eprintln!(
            "focus {:?}: {} cells, {} equations, instances {:?}",
            opts.focus_area,
            model.vars.len(),
            model.eqs.len(),
            model.instances
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_five_attacks_recover_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, focus) = lake(dir.path()).await;
    let cats = Catalogs::new(options(&lake, focus.clone()), std::time::Duration::from_secs(3600), Default::default()).await.unwrap();
    let generation = cats.current().await;
    let partner = generation.partner("police-northshire").await.unwrap().ctx;
    let publisher = generation.publisher().await.unwrap().ctx;
    let analyst = build_session(&options(&lake, focus.clone())).await.unwrap().ctx;
    let (pt, pp) = (Policy::Partner.threshold(), Policy::Partner.rules().protection);
    let (ut, up) = (Policy::Public.threshold(), Policy::Public.rules().protection);

    // 1. Partner: homicide = (homicide and serious assault) - serious assault, in H5.
    let h5 = |r: i64| {
        format!(
            "SELECT h.period, h.period_type, {} - {} AS lo, {} - {} AS hi
             FROM measure_h5 h
             JOIN measure_h5 b ON b.period = h.period AND b.period_type = h.period_type AND b.offence_group = 'homicide_and_serious_assault'
             JOIN measure_h5 s ON s.period = h.period AND s.period_type = h.period_type AND s.offence_group = 'serious_assault'
             WHERE h.offence_group = 'homicide' AND h.focus_offences = '*'",
            lo("b.focus_offences", r),
            hi("s.focus_offences", r),
            hi("b.focus_offences", r),
            lo("s.focus_offences", r)
        )
    };
    let truth = exact(
        &analyst,
        "SELECT period, period_type, focus_offences FROM measure_h5 WHERE offence_group = 'homicide'",
        &["period", "period_type"],
        "focus_offences",
    )
    .await;
    let attacked =
        |rs: Vec<HashMap<String, Option<String>>>, truth: &HashMap<Vec<String>, i64>, keys: &[&str], name: &str| -> Vec<Attacked> {
            rs.iter()
                .map(|r| {
                    let k: Vec<String> = keys.iter().map(|c| r[*c].clone().unwrap_or_default()).collect();
                    Attacked { what: format!("{name} {}", k.join(" ")), exact: truth[&k], lo: opt(r, "lo").unwrap_or(1), hi: opt(r, "hi") }
                })
                .collect()
        };
    let got = attacked(rows(&partner, &h5(0)).await, &truth, &["period", "period_type"], "H5 focus homicide");
    let mut hit = 0;
    hit += check("attack 1 (partner, H5 union minus a group)", &got, pt, pp);

    // 2. Partner: a suppressed D1 decile = H1 focus total - the other deciles.
    let d1 = |r: i64| {
        format!(
            "WITH d AS (SELECT period, period_type, imd_decile, offences, {lo} AS l, {hi} AS h FROM measure_d1),
                  o AS (SELECT t.period, t.period_type, t.imd_decile,
                               CASE WHEN count(*) FILTER (WHERE o.h IS NULL) > 0 THEN NULL ELSE sum(o.h) END AS others_hi,
                               sum(o.l) AS others_lo
                        FROM d t JOIN d o ON o.period = t.period AND o.period_type = t.period_type AND o.imd_decile IS DISTINCT FROM t.imd_decile
                        WHERE t.offences = '*' GROUP BY t.period, t.period_type, t.imd_decile)
             SELECT o.period, o.period_type, CAST(o.imd_decile AS VARCHAR) AS imd_decile, {tlo} - o.others_hi AS lo, {thi} - o.others_lo AS hi
             FROM o JOIN measure_h1 h ON h.period = o.period AND h.period_type = o.period_type AND h.area_code = 'focus' AND h.category = 'total'",
            lo = lo("offences", r),
            hi = hi("offences", r),
            tlo = lo("h.offences", r),
            thi = hi("h.offences", r)
        )
    };
    let truth = exact(
        &analyst,
        "SELECT period, period_type, CAST(imd_decile AS VARCHAR) AS imd_decile, offences FROM measure_d1",
        &["period", "period_type", "imd_decile"],
        "offences",
    )
    .await;
    let got = attacked(rows(&partner, &d1(0)).await, &truth, &["period", "period_type", "imd_decile"], "D1 decile");
    hit += check("attack 2 (partner, H1 total minus the other D1 deciles)", &got, pt, pp);

    // 3. Partner and publisher: Y1 people - male, the people not male.
    let y1 = |r: i64| {
        format!(
            "SELECT period, {} - {} AS lo, {} - {} AS hi FROM measure_y1",
            lo("people", r),
            hi("male", r),
            hi("people", r),
            lo("male", r)
        )
    };
    let truth = exact(&analyst, "SELECT period, people - male AS not_male FROM measure_y1", &["period"], "not_male").await;
    let got = attacked(rows(&partner, &y1(0)).await, &truth, &["period"], "Y1 not male");
    hit += check("attack 3 (partner, Y1 people minus male)", &got, pt, pp);
    let got = attacked(rows(&publisher, &y1(2)).await, &truth, &["period"], "Y1 not male");
    hit += check("attack 3 (publisher, Y1 people minus male)", &got, ut, up);

    // 4. Publisher: rates and changes carry nothing beyond the rounded
    // counts, and the rounded H1 total with the D1 deciles pins no decile.
    let h1 = rows(&publisher, "SELECT offences, population, rate_per_1000, previous_offences, change FROM measure_h1").await;
    let mut rates = 0;
    for r in &h1 {
        let (Some(n), Some(rate)) = (r["offences"].as_deref(), r["rate_per_1000"].as_deref()) else { continue };
        if n == "*" || rate == "*" {
            continue;
        }
        let (n, pop): (f64, f64) = (n.parse().unwrap(), r["population"].as_deref().unwrap().parse().unwrap());
        assert_eq!(
            rate.parse::<f64>().unwrap(),
            (n * 1000.0 / pop * 100.0).round() / 100.0,
            "rate not computed from the published count {n}"
        );
        assert_eq!(n as i64 % 5, 0);
        rates += 1;
        if let (Some(c), Some(p)) = (r["change"].as_deref(), r["previous_offences"].as_deref())
            && c != "*"
            && p != "*"
        {
            assert_eq!(c.parse::<i64>().unwrap(), n as i64 - p.parse::<i64>().unwrap(), "change not from the published counts");
        }
    }
    assert!(rates >= 10, "only {rates} rates shown: the attack proves too little");
    eprintln!("attack 4 (publisher, rate +-2 search): {rates} rates are functions of the rounded count: the intruder keeps [r-2, r+2]");
    let got = attacked(rows(&publisher, &d1(2)).await, &truth_d1(&analyst).await, &["period", "period_type", "imd_decile"], "D1 decile");
    hit += check("attack 4 (publisher, rounded H1 total minus the other D1 deciles)", &got, ut, up);

    // 5. Default configuration (every LA in the focus area): a suppressed
    // LA cell of H1 = focus - the other LAs.
    let all_las: Vec<String> = rows(&analyst, "SELECT DISTINCT CAST(la_code AS VARCHAR) AS la FROM lsoa_lookup")
        .await
        .iter()
        .map(|r| r["la"].clone().unwrap())
        .collect();
    let cats = Catalogs::new(options(&lake, all_las.clone()), std::time::Duration::from_secs(3600), Default::default()).await.unwrap();
    let generation = cats.current().await;
    let partner_all = generation.partner("police-northshire").await.unwrap().ctx;
    let analyst_all = build_session(&options(&lake, all_las)).await.unwrap().ctx;
    let sql = format!(
        "WITH d AS (SELECT period, period_type, area_code, category, offences, {lo} AS l, {hi} AS h FROM measure_h1 WHERE area_type = 'la'),
              o AS (SELECT t.period, t.period_type, t.area_code, t.category,
                           CASE WHEN count(*) FILTER (WHERE o.area_code IS NOT NULL AND o.h IS NULL) > 0 THEN NULL ELSE coalesce(sum(o.h), 0) END AS others_hi,
                           coalesce(sum(o.l), 0) AS others_lo
                    FROM d t LEFT JOIN d o ON o.period = t.period AND o.period_type = t.period_type AND o.category = t.category AND o.area_code <> t.area_code
                    WHERE t.offences = '*' GROUP BY t.period, t.period_type, t.area_code, t.category)
         SELECT o.period, o.period_type, o.area_code, o.category, {flo} - o.others_hi AS lo, {fhi} - o.others_lo AS hi
         FROM o JOIN measure_h1 f ON f.period = o.period AND f.period_type = o.period_type AND f.area_code = 'focus' AND f.category = o.category",
        lo = lo("offences", 0),
        hi = hi("offences", 0),
        flo = lo("f.offences", 0),
        fhi = hi("f.offences", 0)
    );
    let keys = ["period", "period_type", "area_code", "category"];
    let truth = exact(&analyst_all, "SELECT period, period_type, area_code, category, offences FROM measure_h1", &keys, "offences").await;
    let got = attacked(rows(&partner_all, &sql).await, &truth, &keys, "H1 local authority");
    hit += check("attack 5 (partner, every LA in focus: focus minus the other LAs)", &got, pt, pp);

    // 6. Calendar years straddle financial years: the analyst has them,
    // the partner (and the publisher) have none of the measures counting
    // over report periods, so no year can be subtracted from another.
    let sql = "SELECT count(*) AS n FROM measure_h1 WHERE period_type = 'calendar_year'";
    assert!(int(&rows(&analyst, sql).await[0], "n") > 0, "the analyst has calendar years");
    for (who, ctx) in [("partner", &partner), ("publisher", &publisher)] {
        assert_eq!(int(&rows(ctx, sql).await[0], "n"), 0, "the {who} is given calendar years of H1");
    }
    assert!(hit >= 10, "only {hit} small cells reached by the attacks: the city proves too little");
}

async fn truth_d1(analyst: &SessionContext) -> HashMap<Vec<String>, i64> {
    exact(
        analyst,
        "SELECT period, period_type, CAST(imd_decile AS VARCHAR) AS imd_decile, offences FROM measure_d1",
        &["period", "period_type", "imd_decile"],
        "offences",
    )
    .await
}
