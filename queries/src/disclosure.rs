//! Disclosure control: the one step every published output passes through,
//! after all aggregation. A policy per audience:
//! - `public`: counts 1-7 suppressed (`*`), other counts rounded to the
//!   nearest 5 (NHS secondary-care practice);
//! - `partner`: counts 1-4 suppressed;
//! - `analyst`: exact counts.
//!
//! Then, for the suppressing policies: secondary suppression (a suppressed
//! cell must not be derivable from a total and the other cells of its
//! group: the next smallest cell goes too, repeated until no group has a
//! single suppressed cell); any rate, percentage, mean or median built on a
//! suppressed count is suppressed; rates on fewer than 10 events are not
//! shown. Zeros are true zeros and are shown.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const SUPPRESSED: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Public,
    Partner,
    Analyst,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Policy::Public),
            "partner" => Some(Policy::Partner),
            "analyst" => Some(Policy::Analyst),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Policy::Public => "public",
            Policy::Partner => "partner",
            Policy::Analyst => "analyst",
        }
    }

    /// Counts from 1 to this are suppressed (0: none).
    pub fn threshold(&self) -> i64 {
        match self {
            Policy::Public => 7,
            Policy::Partner => 4,
            Policy::Analyst => 0,
        }
    }

    fn rounding(&self) -> Option<i64> {
        (*self == Policy::Public).then_some(5)
    }

    /// Rates on fewer events than this are not shown.
    fn min_rate_events(&self) -> i64 {
        if *self == Policy::Analyst { 0 } else { 10 }
    }
}

/// How a figure derived from counts is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// A rate: hidden when its numerator (the first source) is under 10.
    Rate,
    /// A percentage, mean, median, ratio or change: hidden when any source is.
    Statistic,
}

/// Rows sharing `group_by` values whose `label` column names their part;
/// the row labelled `total` is the sum of the others (except `excluded`).
#[derive(Debug, Clone)]
pub struct Margin {
    pub group_by: &'static [&'static str],
    pub label: &'static str,
    pub total: &'static str,
    pub excluded: &'static [&'static str],
}

/// What each column of a measure is, for disclosure control. Columns not
/// named are passed through (keys, labels, resident populations).
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Counts of people or events.
    pub counts: &'static [&'static str],
    /// Figures computed from counts: (column, kind, source counts).
    pub derived: &'static [(&'static str, Derived, &'static [&'static str])],
    pub margins: &'static [Margin],
    /// Columns of one row that add up to another: (total, parts).
    pub column_margins: &'static [(&'static str, &'static [&'static str])],
}

/// A result as text: what disclosure control reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grid {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Grid {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

fn count_of(cell: &Option<String>) -> Option<i64> {
    cell.as_deref().and_then(|s| s.parse::<i64>().ok())
}

/// Which (row, column) count cells must be hidden under `policy`.
pub fn suppressed_cells(grid: &Grid, spec: &Spec, policy: Policy) -> BTreeSet<(usize, usize)> {
    let k = policy.threshold();
    let mut hidden = BTreeSet::new();
    if k == 0 {
        return hidden;
    }
    let count_cols: Vec<usize> = spec.counts.iter().filter_map(|c| grid.col(c)).collect();
    for (r, row) in grid.rows.iter().enumerate() {
        for &c in &count_cols {
            if count_of(&row[c]).is_some_and(|v| (1..=k).contains(&v)) {
                hidden.insert((r, c));
            }
        }
    }
    // Secondary suppression, to a fixed point: in every set of cells that
    // add up to a total, never leave exactly one cell hidden.
    let sets = margin_cells(grid, spec, &count_cols);
    loop {
        let mut changed = false;
        for cells in &sets {
            if cells.iter().filter(|c| hidden.contains(*c)).count() != 1 {
                continue;
            }
            // The smallest other non-zero cell: zeros stay shown.
            let next = cells
                .iter()
                .filter(|c| !hidden.contains(*c))
                .filter_map(|(r, c)| count_of(&grid.rows[*r][*c]).map(|v| (v == 0, v, (*r, *c))))
                .min();
            if let Some((_, _, cell)) = next {
                hidden.insert(cell);
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// Every set of count cells that adds up to a total: each row margin's
/// group in each count column, and each column margin in each row.
fn margin_cells(grid: &Grid, spec: &Spec, count_cols: &[usize]) -> Vec<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    for m in spec.margins {
        let (Some(label), Some(keys)) = (grid.col(m.label), m.group_by.iter().map(|g| grid.col(g)).collect::<Option<Vec<_>>>()) else {
            continue;
        };
        let mut groups: BTreeMap<Vec<Option<String>>, Vec<usize>> = BTreeMap::new();
        for (r, row) in grid.rows.iter().enumerate() {
            let l = row[label].as_deref().unwrap_or("");
            if m.excluded.contains(&l) {
                continue;
            }
            groups.entry(keys.iter().map(|k| row[*k].clone()).collect()).or_default().push(r);
        }
        for rows in groups.into_values().filter(|rows| rows.iter().any(|r| grid.rows[*r][label].as_deref() == Some(m.total))) {
            for &c in count_cols {
                out.push(rows.iter().map(|r| (*r, c)).collect());
            }
        }
    }
    for (total, parts) in spec.column_margins {
        let Some(cols) = std::iter::once(total).chain(parts.iter()).map(|c| grid.col(c)).collect::<Option<Vec<_>>>() else { continue };
        for r in 0..grid.rows.len() {
            out.push(cols.iter().map(|c| (r, *c)).collect());
        }
    }
    out
}

fn round_to(v: i64, step: i64) -> i64 {
    ((v as f64 / step as f64).round() as i64) * step
}

/// Applies the policy: hidden counts become `*`, other counts are rounded
/// (public), derived figures on hidden counts or on too few events become `*`.
pub fn apply(grid: &Grid, spec: &Spec, policy: Policy) -> Grid {
    let hidden = suppressed_cells(grid, spec, policy);
    let mut out = grid.clone();
    let count_cols: Vec<usize> = spec.counts.iter().filter_map(|c| grid.col(c)).collect();
    for (r, row) in out.rows.iter_mut().enumerate() {
        for (name, kind, sources) in spec.derived {
            let Some(c) = grid.col(name) else { continue };
            let src: Vec<usize> = sources.iter().filter_map(|s| grid.col(s)).collect();
            let on_hidden = src.iter().any(|s| hidden.contains(&(r, *s)));
            let too_few = *kind == Derived::Rate
                && src.first().and_then(|s| count_of(&grid.rows[r][*s])).is_some_and(|n| n < policy.min_rate_events());
            if (on_hidden || too_few) && row[c].is_some() {
                row[c] = Some(SUPPRESSED.into());
            }
        }
        for &c in &count_cols {
            if hidden.contains(&(r, c)) {
                row[c] = Some(SUPPRESSED.into());
            } else if let (Some(step), Some(v)) = (policy.rounding(), count_of(&row[c])) {
                row[c] = Some(round_to(v, step).to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        counts: &["n"],
        derived: &[("rate", Derived::Rate, &["n"]), ("pct", Derived::Statistic, &["n", "d"])],
        margins: &[Margin { group_by: &["g"], label: "cat", total: "total", excluded: &["asb"] }],
        column_margins: &[],
    };

    fn grid(rows: &[(&str, &str, i64)]) -> Grid {
        Grid {
            columns: vec!["g".into(), "cat".into(), "n".into(), "rate".into(), "pct".into(), "d".into()],
            rows: rows
                .iter()
                .map(|(g, c, n)| {
                    vec![
                        Some(g.to_string()),
                        Some(c.to_string()),
                        Some(n.to_string()),
                        Some("1.5".into()),
                        Some("50.0".into()),
                        Some("99".into()),
                    ]
                })
                .collect(),
        }
    }

    fn col(g: &Grid, name: &str) -> Vec<String> {
        let c = g.col(name).unwrap();
        g.rows.iter().map(|r| r[c].clone().unwrap_or_default()).collect()
    }

    #[test]
    fn public_suppresses_rounds_and_protects_the_total() {
        let g = grid(&[("a", "x", 3), ("a", "y", 12), ("a", "z", 40), ("a", "total", 55), ("a", "asb", 2)]);
        let p = apply(&g, &SPEC, Policy::Public);
        // 3 is primary; 12 is the next smallest, so 3 cannot be had from 55 - 12 - 40.
        assert_eq!(col(&p, "n"), ["*", "*", "40", "55", "*"]);
        assert_eq!(col(&p, "rate"), ["*", "*", "1.5", "1.5", "*"]);
        assert_eq!(col(&p, "pct"), ["*", "*", "50.0", "50.0", "*"]);
    }

    #[test]
    fn zeros_are_shown_and_analysts_see_everything() {
        let g = grid(&[("a", "x", 0), ("a", "y", 9), ("a", "total", 9)]);
        let p = apply(&g, &SPEC, Policy::Public);
        assert_eq!(col(&p, "n"), ["0", "10", "10"]);
        // The rate on 9 events is hidden even though 9 is published (as 10).
        assert_eq!(col(&p, "rate"), ["*", "*", "*"]);
        let a = apply(&g, &SPEC, Policy::Analyst);
        assert_eq!(col(&a, "n"), ["0", "9", "9"]);
        assert_eq!(col(&a, "rate"), ["1.5", "1.5", "1.5"]);
    }

    #[test]
    fn column_margins_protect_within_a_row() {
        const ROW: Spec =
            Spec { counts: &["all", "a", "b", "c"], derived: &[], margins: &[], column_margins: &[("all", &["a", "b", "c"])] };
        let g = Grid {
            columns: vec!["all".into(), "a".into(), "b".into(), "c".into()],
            rows: vec![vec![Some("30".into()), Some("2".into()), Some("12".into()), Some("16".into())]],
        };
        let p = apply(&g, &ROW, Policy::Public);
        assert_eq!(p.rows[0].iter().map(|c| c.clone().unwrap()).collect::<Vec<_>>(), ["30", "*", "*", "15"]);
    }

    #[test]
    fn a_lone_suppressed_cell_next_to_zeros_hides_the_total() {
        let g = grid(&[("a", "x", 0), ("a", "y", 4), ("a", "total", 4)]);
        let p = apply(&g, &SPEC, Policy::Partner);
        // 4 and its total are both 1-4: both hidden. With a total of 4 and
        // the zero shown, nothing more is needed.
        assert_eq!(col(&p, "n"), ["0", "*", "*"]);
        let g = grid(&[("a", "x", 0), ("a", "y", 4), ("a", "total", 24), ("a", "z", 20)]);
        let p = apply(&g, &SPEC, Policy::Partner);
        // Zeros stay shown: the next smallest non-zero cell goes instead.
        assert_eq!(col(&p, "n"), ["0", "*", "24", "*"]);
    }
}
