//! Properties of disclosure control that must hold for any table:
//! under `public` no count of 1-7 is published, and no suppressed cell can
//! be worked out from its group's total and the other cells shown.

use proptest::prelude::*;
use vru_queries::disclosure::{self, Derived, Grid, Margin, Policy, SUPPRESSED, Spec};

const SPEC: Spec = Spec {
    counts: &["n", "previous"],
    derived: &[
        ("pct", Derived::Statistic, &["n", "d"]),
        ("rate", Derived::Rate, &["n"]),
        ("change", Derived::Statistic, &["n", "previous"]),
    ],
    margins: &[Margin { group_by: &["area"], label: "category", total: "total", excluded: &["asb"] }],
    column_margins: &[],
};

/// A table of areas by categories with a total row per area (the sum of
/// its categories), and an `asb` row outside the total.
fn table() -> impl Strategy<Value = Grid> {
    (1usize..4, 2usize..7).prop_flat_map(|(areas, cats)| {
        prop::collection::vec(prop::collection::vec((0i64..40, 0i64..40), cats + 1), areas).prop_map(move |cells| {
            let mut rows = Vec::new();
            for (a, area) in cells.iter().enumerate() {
                let mut total = (0, 0);
                for (c, (n, p)) in area.iter().take(cats).enumerate() {
                    total = (total.0 + n, total.1 + p);
                    rows.push(row(a, &format!("c{c}"), *n, *p));
                }
                rows.push(row(a, "total", total.0, total.1));
                rows.push(row(a, "asb", area[cats].0, area[cats].1));
            }
            Grid { columns: ["area", "category", "n", "previous", "d", "pct", "rate", "change"].map(String::from).to_vec(), rows }
        })
    })
}

fn row(area: usize, cat: &str, n: i64, previous: i64) -> Vec<Option<String>> {
    [
        format!("a{area}"),
        cat.to_string(),
        n.to_string(),
        previous.to_string(),
        "100".into(),
        "12.5".into(),
        "3.25".into(),
        (n - previous).to_string(),
    ]
    .into_iter()
    .map(Some)
    .collect()
}

fn cell<'a>(g: &'a Grid, r: usize, col: &str) -> &'a str {
    g.rows[r][g.col(col).unwrap()].as_deref().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn public_never_shows_small_counts(g in table()) {
        let p = disclosure::apply(&g, &SPEC, Policy::Public);
        for r in 0..p.rows.len() {
            for col in ["n", "previous"] {
                let v = cell(&p, r, col);
                if v != SUPPRESSED {
                    let n: i64 = v.parse().unwrap();
                    prop_assert!(!(1..=7).contains(&n), "count {n} published");
                    prop_assert_eq!(n % 5, 0, "not rounded to 5");
                }
                let original: i64 = cell(&g, r, col).parse().unwrap();
                if original == 0 {
                    prop_assert_eq!(v, "0", "zeros are shown");
                }
            }
        }
    }

    #[test]
    fn no_suppressed_cell_is_derivable_from_its_total(g in table(), policy in prop_oneof![Just(Policy::Public), Just(Policy::Partner)]) {
        let p = disclosure::apply(&g, &SPEC, policy);
        for area in 0..4 {
            let name = format!("a{area}");
            for col in ["n", "previous"] {
                let hidden = (0..p.rows.len())
                    .filter(|r| cell(&p, *r, "area") == name && cell(&p, *r, "category") != "asb")
                    .filter(|r| cell(&p, *r, col) == SUPPRESSED)
                    .count();
                prop_assert_ne!(hidden, 1, "area {} column {}: a single hidden cell can be recovered from the total", name, col);
            }
        }
    }

    #[test]
    fn derived_figures_follow_their_counts(g in table()) {
        let p = disclosure::apply(&g, &SPEC, Policy::Public);
        for r in 0..p.rows.len() {
            let n_hidden = cell(&p, r, "n") == SUPPRESSED;
            if n_hidden {
                prop_assert_eq!(cell(&p, r, "pct"), SUPPRESSED);
                prop_assert_eq!(cell(&p, r, "change"), SUPPRESSED);
            }
            let n: i64 = cell(&g, r, "n").parse().unwrap();
            if n < 10 {
                prop_assert_eq!(cell(&p, r, "rate"), SUPPRESSED, "rate on {} events shown", n);
            }
        }
    }

    #[test]
    fn analysts_see_exact_figures(g in table()) {
        prop_assert_eq!(disclosure::apply(&g, &SPEC, Policy::Analyst), g);
    }
}
