//! Properties of disclosure control on random linked tables: areas by
//! categories with category totals, a focus area that is the sum of its
//! local authorities, and a second table holding the same focus counts
//! with a union of two categories. For every table and both policies:
//! no count of 1..=threshold is shown, zeros are shown, and an independent
//! audit of what is published finds no exposed cell.

use proptest::prelude::*;
use vru_queries::disclosure::structure::{K, Relation, Rest, Sel, t};
use vru_queries::disclosure::{self, Context, Derived, Grid, Policy, SUPPRESSED, Spec, Table, published};

const KEYS: &[K] = &[K::C("area")];
const CATS: &[K] = &[K::C("category")];
const AREA: Spec = Spec {
    in_time: &[],
    counts: &["n"],
    derived: &[("rate", Derived::Rate { count: "n", population: "pop", per: 1000.0 })],
    keys: &["area", "category"],
    relations: &[
        Relation {
            name: "categories",
            total: &[t("a", "n", KEYS, &[("category", Sel::Is("total"))])],
            parts: &[t("a", "n", KEYS, &[("category", Sel::Not(&["total"]))])],
            rest: Rest::Exact,
        },
        Relation {
            name: "areas",
            total: &[t("a", "n", CATS, &[("area", Sel::Is("focus"))])],
            parts: &[t("a", "n", CATS, &[("area", Sel::FocusLa)])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};
const UNION: Spec = Spec {
    in_time: &[],
    counts: &["n"],
    derived: &[],
    keys: &["group"],
    relations: &[
        Relation {
            name: "same",
            total: &[t("u", "n", &[K::C("group")], &[("group", Sel::Not(&["c0+c1"]))])],
            parts: &[t("a", "n", &[K::C("category")], &[("area", Sel::Is("focus"))])],
            rest: Rest::Exact,
        },
        Relation {
            name: "union",
            total: &[t("u", "n", &[K::Any], &[("group", Sel::Is("c0+c1"))])],
            parts: &[t("u", "n", &[K::Any], &[("group", Sel::Not(&["c0+c1"]))])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

fn grid(cols: &[&str], rows: Vec<Vec<String>>) -> Grid {
    Grid {
        columns: cols.iter().map(|c| c.to_string()).collect(),
        rows: rows.into_iter().map(|r| r.into_iter().map(Some).collect()).collect(),
    }
}

/// LAs x categories of small counts (many zeros and small ones).
fn city() -> impl Strategy<Value = (Grid, Grid)> {
    (1usize..4, 2usize..5).prop_flat_map(|(las, cats)| {
        prop::collection::vec(prop::collection::vec(prop_oneof![Just(0i64), 1i64..8, 8i64..60], cats), las).prop_map(move |cells| {
            let mut rows = Vec::new();
            let mut focus = vec![0; cats];
            for (l, la) in cells.iter().enumerate() {
                for (c, n) in la.iter().enumerate() {
                    focus[c] += n;
                    rows.push(vec![format!("la{l}"), format!("c{c}"), n.to_string(), "5000".into(), String::new()]);
                }
                rows.push(vec![format!("la{l}"), "total".into(), la.iter().sum::<i64>().to_string(), "5000".into(), String::new()]);
            }
            for (c, n) in focus.iter().enumerate() {
                rows.push(vec!["focus".into(), format!("c{c}"), n.to_string(), "9000".into(), String::new()]);
            }
            rows.push(vec!["focus".into(), "total".into(), focus.iter().sum::<i64>().to_string(), "9000".into(), String::new()]);
            for r in &mut rows {
                let n: f64 = r[2].parse().unwrap();
                let pop: f64 = r[3].parse().unwrap();
                r[4] = format!("{}", (n * 1000.0 / pop * 100.0).round() / 100.0);
            }
            let mut u: Vec<Vec<String>> = focus.iter().enumerate().map(|(c, n)| vec![format!("c{c}"), n.to_string()]).collect();
            u.push(vec!["c0+c1".into(), (focus[0] + focus[1]).to_string()]);
            (grid(&["area", "category", "n", "pop", "rate"], rows), grid(&["group", "n"], u))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_small_count_shown_and_nothing_exposed((a, u) in city(), policy in prop_oneof![Just(Policy::Public), Just(Policy::Partner)]) {
        let las: Vec<String> = a.rows.iter().filter_map(|r| r[0].clone()).filter(|l| l.starts_with("la")).collect();
        let ctx = Context::new(las);
        let tables = [Table { view: "a", spec: &AREA, grid: &a }, Table { view: "u", spec: &UNION, grid: &u }];
        let rules = policy.rules();
        let p = disclosure::protect(&tables, &ctx, &rules).unwrap();
        prop_assert!(p.audit.exposed.is_empty(), "{:?}", p.audit.exposed);
        for (exact, shown) in [(&a, &p.grids[0]), (&u, &p.grids[1])] {
            let c = exact.col("n").unwrap();
            for (e, s) in exact.rows.iter().zip(&shown.rows) {
                let (e, s) = (e[c].as_deref().unwrap(), s[c].as_deref().unwrap());
                let n: i64 = e.parse().unwrap();
                if n == 0 { prop_assert_eq!(s, "0", "zeros are shown"); }
                if s != SUPPRESSED {
                    let v: i64 = s.parse().unwrap();
                    prop_assert!(!(1..=rules.threshold).contains(&v), "count {} published", v);
                    prop_assert!((v - n).abs() <= 2);
                }
            }
        }
        // The independent audit of what is published agrees.
        let audit = published::audit_published(&tables, &[Some(&p.grids[0]), Some(&p.grids[1])], &ctx, &rules).unwrap();
        prop_assert!(audit.findings.iter().all(|f| !f.exposed), "{:?}", audit.findings.iter().filter(|f| f.exposed).collect::<Vec<_>>());
        prop_assert!(audit.derived_mismatches.is_empty(), "{:?}", audit.derived_mismatches);
    }
}
