//! Periods that overlap without being the same: a calendar year and the two
//! financial years it straddles, or a rolling 12 months ending mid-year.
//! An intruder subtracts one from another: the rolling 12 months to June
//! minus the partial year since April is July to March, and the whole year
//! before minus that is April to June, a count never published.
//!
//! So a count that is a sum of events over time is declared as one
//! ([`InTime`]), and each published cell of it is modelled as the sum of its
//! *atoms*: the pieces the boundaries of all published periods cut time
//! into. The atoms' exact counts come from running the same measures with
//! the atoms as their periods (`crate::period_atoms`, never published).
//! A small atom (1 to the threshold) must not be recoverable exactly; that
//! it is at most the published count it is part of is what publishing that
//! count means, so narrower intervals short of the exact value are not
//! refused (the limit of this model: a piece pinned to [1, 2] passes).
//! When no two
//! periods overlap unless they are the same (financial years and a rolling
//! year that is one of them), there is nothing to subtract and no atoms.
//! Calendar years are left out of what is published under disclosure
//! control ([`crate::measures::Measure::controlled_rows`]): each would
//! overlap two financial years and tie every period into one problem.

use super::structure::{Equation, Model, Var, VarKind};
use super::{Context, Grid, Table, count_of};
use std::collections::{BTreeSet, HashMap};

/// Which period of its row a count column sums over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    /// The row's `period`.
    Row,
    /// The row's `previous_period`.
    Previous,
}

/// A count column that is a sum of events over its period: `column`, the
/// column holding the same count of a row's own period (`base`, what the
/// atoms' rows give), and which period it covers.
#[derive(Debug, Clone, Copy)]
pub struct InTime {
    pub column: &'static str,
    pub base: &'static str,
    pub of: Of,
}

/// A half-open span of time `[start, end)`, as ISO timestamps (which sort
/// as text).
pub type Span = (String, String);

/// The atoms `spans` cut time into, when two of them overlap without being
/// the same; `None` otherwise. Atoms are in time order and only where some
/// span covers them.
pub fn atoms(spans: impl IntoIterator<Item = Span>) -> Option<Vec<Span>> {
    let spans: BTreeSet<Span> = spans.into_iter().filter(|(s, e)| s < e).collect();
    let mut reach: Option<&String> = None;
    let mut overlap = false;
    for (s, e) in &spans {
        if reach.is_some_and(|r| s < r) {
            overlap = true;
            break;
        }
        reach = Some(reach.map_or(e, |r| r.max(e)));
    }
    if !overlap {
        return None;
    }
    let bounds: BTreeSet<&String> = spans.iter().flat_map(|(s, e)| [s, e]).collect();
    let bounds: Vec<&String> = bounds.into_iter().collect();
    Some(bounds.windows(2).filter(|w| spans.iter().any(|(s, e)| s <= w[0] && w[1] <= e)).map(|w| (w[0].clone(), w[1].clone())).collect())
}

/// The label an atom has as a period in the measures' rows.
pub fn atom_label(a: &Span) -> String {
    format!("{}..{}", a.0, a.1)
}

/// The measures' exact rows with the atoms as periods: what
/// [`add_sums_over_time`] needs.
#[derive(Debug, Clone, Default)]
pub struct AtomOutputs {
    pub atoms: Vec<Span>,
    /// Per measure view, its rows over the atoms.
    pub grids: HashMap<&'static str, Grid>,
}

/// Every in-time cell equals the sum of its atoms.
pub fn add_sums_over_time(m: &mut Model, tables: &[Table<'_>], ctx: &Context) {
    let Some(atoms) = &ctx.atoms else { return };
    let labels: Vec<String> = atoms.atoms.iter().map(atom_label).collect();
    let mut atom_var: HashMap<(usize, usize, Vec<String>, &'static str), usize> = HashMap::new();
    for (ti, t) in tables.iter().enumerate() {
        let Some(g) = atoms.grids.get(t.view).filter(|_| !t.spec.in_time.is_empty()) else { continue };
        let keys_of =
            |grid: &Grid, r: usize| -> Vec<String> { t.spec.keys.iter().map(|k| grid.get(r, k).unwrap_or_default().to_string()).collect() };
        let mut index: HashMap<(&str, Vec<String>), usize> = HashMap::new();
        for r in 0..g.rows.len() {
            if let Some(p) = g.get(r, "period") {
                index.insert((p, keys_of(g, r)), r);
            }
        }
        for r in 0..t.grid.rows.len() {
            let keys = keys_of(t.grid, r);
            for it in t.spec.in_time {
                let Some(c) = t.grid.col(it.column) else { continue };
                let Some(&cell) = m.cell_var.get(&(ti, r, c)) else { continue };
                let label = t.grid.get(r, if it.of == Of::Row { "period" } else { "previous_period" });
                let Some(span) = label.and_then(|l| ctx.spans.get(l)) else { continue };
                let parts: Vec<usize> =
                    (0..atoms.atoms.len()).filter(|a| span.0 <= atoms.atoms[*a].0 && atoms.atoms[*a].1 <= span.1).collect();
                if parts.is_empty() {
                    continue;
                }
                let mut terms = vec![(cell, 1)];
                let mut sum = 0;
                for a in parts {
                    let v = *atom_var.entry((ti, a, keys.clone(), it.base)).or_insert_with(|| {
                        let exact = index
                            .get(&(labels[a].as_str(), keys.clone()))
                            .and_then(|ar| g.col(it.base).and_then(|bc| count_of(&g.rows[*ar][bc])))
                            .unwrap_or(0);
                        m.vars.push(Var {
                            kind: VarKind::Atom,
                            exact,
                            name: format!("{}[{} {}].{} (not published)", t.view, labels[a], keys.join(" "), it.base),
                        });
                        m.vars.len() - 1
                    });
                    sum += m.vars[v].exact;
                    terms.push((v, -1));
                }
                *m.instances.entry("sum over time").or_default() += 1;
                if sum != m.vars[cell].exact {
                    m.violations
                        .push(format!("sum over time: {} is {} but its months sum to {sum}", m.vars[cell].name, m.vars[cell].exact));
                    continue;
                }
                m.eqs.push(Equation { relation: "sum over time", terms });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &str, b: &str) -> Span {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn disjoint_or_equal_periods_need_no_atoms() {
        let fy = [s("2022-04", "2023-04"), s("2023-04", "2024-04"), s("2023-04", "2024-04")];
        assert_eq!(atoms(fy), None);
    }

    #[test]
    fn a_calendar_year_cuts_the_financial_years_it_straddles() {
        let got = atoms([s("2022-04", "2023-04"), s("2023-04", "2024-04"), s("2023-01", "2024-01")]).unwrap();
        assert_eq!(got, vec![s("2022-04", "2023-01"), s("2023-01", "2023-04"), s("2023-04", "2024-01"), s("2024-01", "2024-04")]);
    }

    const SPEC: crate::disclosure::Spec = crate::disclosure::Spec {
        in_time: &[InTime { column: "n", base: "n", of: Of::Row }],
        counts: &["n"],
        derived: &[],
        keys: &[],
        relations: &[],
        standalone: &[],
    };

    /// Data from April 2022 to June 2023. 2022/23 had 10, the partial
    /// 2023/24 has 6 and the 12 months to June 2023 14: so April to June
    /// 2022 held 10 - (14 - 6) = 2, published nowhere.
    fn rolling_mid_year() -> (Grid, Context) {
        let g = Grid::of(
            &["period", "period_type", "n"],
            &[
                &["2022/23", "financial_year", "10"],
                &["2023/24", "financial_year", "6"],
                &["12 months to 2023-06-30", "rolling_12_months", "14"],
            ],
        );
        let mut ctx = Context::new([]);
        ctx.spans.insert("2022/23".into(), s("2022-04", "2023-04"));
        ctx.spans.insert("2023/24".into(), s("2023-04", "2023-07"));
        ctx.spans.insert("12 months to 2023-06-30".into(), s("2022-07", "2023-07"));
        let pieces = atoms(ctx.spans.values().cloned()).unwrap();
        let rows: Vec<Vec<String>> =
            pieces.iter().zip(["2", "8", "6"]).map(|(a, n)| vec![atom_label(a), "atom".into(), n.into()]).collect();
        let rows: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
        let grids = HashMap::from([("v", Grid::of(&["period", "period_type", "n"], &rows))]);
        ctx.atoms = Some(AtomOutputs { atoms: pieces, grids });
        (g, ctx)
    }

    #[test]
    fn a_piece_recovered_by_subtracting_overlapping_periods_is_protected() {
        let (g, ctx) = rolling_mid_year();
        let tables = [Table { view: "v", spec: &SPEC, grid: &g }];
        let rules = crate::disclosure::Policy::Partner.rules();
        let shown = |p: &crate::disclosure::Protected| p.grids[0].rows.iter().map(|r| r[2].clone().unwrap()).collect::<Vec<_>>();
        // Without the pieces, nothing looks small: all three published.
        let blind = Context { atoms: None, ..ctx.clone() };
        let p = crate::disclosure::protect(&tables, &blind, &rules).unwrap();
        assert_eq!(shown(&p), ["10", "6", "14"]);
        // With them, the intruder's 2 is found and a count is hidden.
        let p = crate::disclosure::protect(&tables, &ctx, &rules).unwrap();
        assert!(p.audit.exposed.is_empty(), "{:?}", p.audit.exposed);
        assert_eq!((p.primary, p.secondary), (0, 1), "{:?}", shown(&p));
        assert!(shown(&p).contains(&"*".to_string()));
    }

    #[test]
    fn nothing_between_periods_is_an_atom() {
        let got = atoms([s("2020-04", "2021-04"), s("2023-01", "2024-01"), s("2023-04", "2024-04")]).unwrap();
        assert_eq!(got, vec![s("2020-04", "2021-04"), s("2023-01", "2023-04"), s("2023-04", "2024-01"), s("2024-01", "2024-04")]);
    }
}
