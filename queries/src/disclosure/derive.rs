//! Figures derived from counts (rates, percentages, changes, relative
//! risks), recomputed from the counts as published: a rate beside a rounded
//! count then says nothing the count does not. Population denominators are
//! published exactly and used as they are. A figure is `*` when a count it
//! needs is suppressed, and a rate is `*` when its published count is under
//! the policy's minimum (decided on the published count, so the rule itself
//! tells an intruder nothing). Where the exact figure is NULL (no previous
//! period, a zero denominator) it stays NULL: that depends only on which
//! counts are zero, and zeros are published as they are.

use super::{Grid, Rules, SUPPRESSED};
use std::collections::HashMap;

/// How a figure is computed from the counts of its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Derived {
    /// `count * per / population`, two decimals.
    Rate { count: &'static str, population: &'static str, per: f64 },
    /// `num * 100 / den`, one decimal.
    Pct { num: &'static str, den: &'static str },
    /// `num * 100 / num of the group's total row`, one decimal.
    PctOfTotal { num: &'static str, group_by: &'static [&'static str], label: &'static str, total: &'static str },
    /// `now - before`.
    Change { now: &'static str, before: &'static str },
    /// `(now - before) * 100 / before`, one decimal.
    ChangePct { now: &'static str, before: &'static str },
    /// `(num / den) / (cmp_num / cmp_den)`, two decimals.
    RelativeRisk { num: &'static str, den: &'static str, cmp_num: &'static str, cmp_den: &'static str },
    /// Not a function of the counts (a mean or median age): shown as
    /// computed while every count named is shown.
    Shown(&'static [&'static str]),
}

impl Derived {
    /// The count printed as "(n=...)" beside a percentage.
    pub fn numerator(&self) -> Option<&'static str> {
        match self {
            Derived::Pct { num, .. } | Derived::PctOfTotal { num, .. } => Some(num),
            _ => None,
        }
    }

    /// The counts the figure is computed from.
    pub fn sources(&self) -> Vec<&'static str> {
        match *self {
            Derived::Rate { count, .. } => vec![count],
            Derived::Pct { num, den } => vec![num, den],
            Derived::PctOfTotal { num, .. } => vec![num],
            Derived::Change { now, before } | Derived::ChangePct { now, before } => vec![now, before],
            Derived::RelativeRisk { num, den, cmp_num, cmp_den } => vec![num, den, cmp_num, cmp_den],
            Derived::Shown(s) => s.to_vec(),
        }
    }
}

/// Formats like DataFusion prints a Float64 (`12.0`, `12.5`).
fn float(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.1}") } else { format!("{x}") }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A published value: `Err(())` when suppressed, `Ok(None)` when NULL.
fn value(g: &Grid, row: usize, col: &str) -> Result<Option<f64>, ()> {
    match g.get(row, col) {
        Some(SUPPRESSED) => Err(()),
        Some(v) => Ok(v.parse().ok()),
        None => Ok(None),
    }
}

/// Rewrites the derived columns of `published` (whose counts are already
/// protected) from its counts; `exact` says which figures are NULL.
pub fn apply(exact: &Grid, published: &mut Grid, spec: &super::Spec, rules: &Rules) {
    for (name, d) in spec.derived {
        let Some(c) = published.col(name) else { continue };
        let totals: HashMap<Vec<Option<String>>, usize> = match d {
            Derived::PctOfTotal { group_by, label, total, .. } => (0..published.rows.len())
                .filter(|r| published.get(*r, label) == Some(*total))
                .map(|r| (group_by.iter().map(|g| published.get(r, g).map(String::from)).collect(), r))
                .collect(),
            _ => HashMap::new(),
        };
        for r in 0..published.rows.len() {
            if exact.rows[r][c].is_none() {
                continue;
            }
            let computed = compute(published, r, d, rules, &totals);
            published.rows[r][c] = match computed {
                Err(()) => Some(SUPPRESSED.into()),
                Ok(Some(v)) => Some(v),
                Ok(None) => exact.rows[r][c].clone().filter(|_| matches!(d, Derived::Shown(_))),
            };
        }
    }
}

fn compute(g: &Grid, r: usize, d: &Derived, rules: &Rules, totals: &HashMap<Vec<Option<String>>, usize>) -> Result<Option<String>, ()> {
    let num = |col: &str| value(g, r, col);
    let out = match *d {
        Derived::Rate { count, population, per } => {
            let n = num(count)?;
            if n.is_none_or(|n| n < rules.min_rate_events as f64) {
                return Err(());
            }
            match (n, num(population)?) {
                (Some(n), Some(p)) if p > 0.0 => Some(float(round(n * per / p, 2))),
                _ => None,
            }
        }
        Derived::Pct { num: a, den: b } => match (num(a)?, num(b)?) {
            (Some(a), Some(b)) if b > 0.0 => Some(float(round(a * 100.0 / b, 1))),
            _ => None,
        },
        Derived::PctOfTotal { num: a, group_by, .. } => {
            let key: Vec<Option<String>> = group_by.iter().map(|k| g.get(r, k).map(String::from)).collect();
            let den = totals.get(&key).map(|t| value(g, *t, a)).transpose()?.flatten();
            match (num(a)?, den) {
                (Some(a), Some(b)) if b > 0.0 => Some(float(round(a * 100.0 / b, 1))),
                _ => None,
            }
        }
        Derived::Change { now, before } => match (num(now)?, num(before)?) {
            (Some(a), Some(b)) => Some(((a - b) as i64).to_string()),
            _ => None,
        },
        Derived::ChangePct { now, before } => match (num(now)?, num(before)?) {
            (Some(a), Some(b)) if b > 0.0 => Some(float(round((a - b) * 100.0 / b, 1))),
            _ => None,
        },
        Derived::RelativeRisk { num: a, den: b, cmp_num: c, cmp_den: e } => match (num(a)?, num(b)?, num(c)?, num(e)?) {
            (Some(a), Some(b), Some(c), Some(e)) if b > 0.0 && c > 0.0 && e > 0.0 => Some(float(round((a / b) / (c / e), 2))),
            _ => None,
        },
        Derived::Shown(sources) => {
            for s in sources {
                num(s)?;
            }
            None
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::{Policy, Spec};

    fn grid(cols: &[&str], rows: &[&[&str]]) -> Grid {
        Grid::of(cols, rows)
    }

    const SPEC: Spec = Spec {
        in_time: &[],
        derived: &[
            ("rate", Derived::Rate { count: "n", population: "pop", per: 1000.0 }),
            ("change", Derived::Change { now: "n", before: "prev" }),
            ("change_pct", Derived::ChangePct { now: "n", before: "prev" }),
            ("mean", Derived::Shown(&["n"])),
        ],
        ..Spec::NONE
    };

    #[test]
    fn figures_come_from_the_published_counts() {
        let cols = ["n", "pop", "prev", "rate", "change", "change_pct", "mean"];
        // Exact: 118 of 50,000 (2.36), previous 121 (change -3, -2.5%).
        let exact = grid(&cols, &[&["118", "50000", "121", "2.36", "-3", "-2.5", "14.2"], &["3", "50000", "0", "0.06", "3", "", "15.0"]]);
        let mut p = grid(&cols, &[&["120", "50000", "120", "2.36", "-3", "-2.5", "14.2"], &["*", "50000", "0", "0.06", "3", "", "15.0"]]);
        apply(&exact, &mut p, &SPEC, &Policy::Public.rules());
        // 120 / 50,000 = 2.40; 120 - 120 = 0: nothing of 118 or 121 is left.
        assert_eq!(p.rows[0][3..], [Some("2.4".into()), Some("0".into()), Some("0.0".into()), Some("14.2".into())]);
        // A suppressed count hides all its figures; a NULL stays NULL.
        assert_eq!(p.rows[1][3..], [Some("*".into()), Some("*".into()), None, Some("*".into())]);
    }

    #[test]
    fn rates_need_ten_published_events() {
        let cols = ["n", "pop", "prev", "rate", "change", "change_pct", "mean"];
        let exact = grid(&cols, &[&["9", "1000", "", "9.0", "", "", ""]]);
        let mut p = grid(&cols, &[&["9", "1000", "", "9.0", "", "", ""]]);
        apply(&exact, &mut p, &SPEC, &Policy::Partner.rules());
        assert_eq!(p.rows[0][3], Some("*".into()));
    }
}
