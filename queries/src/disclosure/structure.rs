//! The declared structure of the published outputs: linear relations
//! among count cells, within a measure and across measures, and their
//! instances over actual tables (the equations an intruder can write).
//!
//! A relation says `sum(total terms) = sum(part terms) (+ rest)`. Each term
//! picks cells of one column of one measure: the rows passing its filter
//! whose key (read by the term's key readers) equals the instance's key.
//! Instances are the distinct keys of the first total term's rows. `rest`
//! is an unpublished remainder (not male = people - male): a cell too, at
//! least 0, and protected like a published one when it counts people or
//! events ([`Rest::Count`]).
//!
//! Instantiation checks every instance on the exact numbers: a relation
//! that does not hold is reported as a violation (the declaration has
//! drifted from the SQL) and left out, since an intruder cannot use a
//! false equation.

use super::{Context, Table, count_of};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How a term reads one position of the instance key from a row.
#[derive(Debug, Clone, Copy)]
pub enum K {
    /// The column's value (period labels in their canonical form).
    C(&'static str),
    /// The financial year `n` years after the column's: with n = 1 a row of
    /// 2022/23 counts toward the instance 2023/24.
    YearsOn(&'static str, i32),
    /// The financial year of a month label (`2023-04` -> `2023/24`).
    FyOfMonth(&'static str),
    /// The calendar year of a month label (`2023-04` -> `2023`).
    YearOfMonth(&'static str),
    /// Every row, whatever it has here.
    Any,
}

/// A filter on a column's value.
#[derive(Debug, Clone, Copy)]
pub enum Sel {
    Is(&'static str),
    Not(&'static [&'static str]),
    /// A local authority of the focus area.
    FocusLa,
}

#[derive(Debug, Clone, Copy)]
pub struct Term {
    pub view: &'static str,
    pub column: &'static str,
    pub keys: &'static [K],
    pub rows: &'static [(&'static str, Sel)],
}

/// Shorthand for declarations.
pub const fn t(view: &'static str, column: &'static str, keys: &'static [K], rows: &'static [(&'static str, Sel)]) -> Term {
    Term { view, column, keys, rows }
}

/// What is left of the total after the parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Nothing: the total is exactly the sum of the parts.
    Exact,
    /// An unpublished count of people or events (named): protected like a
    /// published count.
    Count(&'static str),
    /// An unpublished remainder that is not a count of people with a
    /// characteristic (fields left blank): only known to be at least 0.
    Slack(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Relation {
    pub name: &'static str,
    pub total: &'static [Term],
    pub parts: &'static [Term],
    pub rest: Rest,
}

/// A published count cell: table, row, column.
pub type CellId = (usize, usize, usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarKind {
    Published(CellId),
    /// An unpublished remainder; `sensitive`: a count of people or events.
    Hidden {
        sensitive: bool,
    },
    /// The count of a piece of time no published period is alone (see
    /// [`super::time`]): a small one must not be recoverable exactly.
    Atom,
}

#[derive(Debug, Clone)]
pub struct Var {
    pub kind: VarKind,
    pub exact: i64,
    pub name: String,
}

/// `sum(coefficient * var) = 0`.
#[derive(Debug, Clone)]
pub struct Equation {
    pub relation: &'static str,
    pub terms: Vec<(usize, i64)>,
}

/// Every count cell of the outputs as a variable, and every equation.
#[derive(Debug, Default)]
pub struct Model {
    pub vars: Vec<Var>,
    pub eqs: Vec<Equation>,
    pub cell_var: HashMap<CellId, usize>,
    /// Instances of a relation that do not hold on the exact numbers.
    pub violations: Vec<String>,
    /// Instances found per relation name.
    pub instances: BTreeMap<&'static str, usize>,
}

/// `2023/24` -> 2023.
pub fn fy_start(label: &str) -> Option<i32> {
    let (a, b) = label.split_once('/')?;
    let y: i32 = a.parse().ok()?;
    (b.len() == 2 && b.parse::<i32>().ok()? == (y + 1) % 100).then_some(y)
}

pub fn fy_label(start: i32) -> String {
    format!("{start}/{:02}", (start + 1) % 100)
}

fn canonical<'a>(ctx: &'a Context, v: &'a str) -> &'a str {
    ctx.same_period.get(v).map_or(v, |s| s.as_str())
}

/// The key a term reads from a row; `None`: the row cannot take part.
fn key_of(t: &Table<'_>, row: usize, keys: &[K], ctx: &Context) -> Option<Vec<Option<String>>> {
    keys.iter()
        .map(|k| match k {
            K::Any => Some(None),
            K::C(c) => t.grid.get(row, c).map(|v| Some(canonical(ctx, v).to_string())),
            K::YearsOn(c, n) => t.grid.get(row, c).and_then(|v| fy_start(canonical(ctx, v))).map(|y| Some(fy_label(y + n))),
            K::FyOfMonth(c) => {
                let v = t.grid.get(row, c)?;
                let (y, m) = v.split_once('-')?;
                let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
                Some(Some(fy_label(if m >= 4 { y } else { y - 1 })))
            }
            K::YearOfMonth(c) => {
                let (y, m) = t.grid.get(row, c)?.split_once('-')?;
                let (y, _): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
                Some(Some(y.to_string()))
            }
        })
        .collect()
}

fn passes(t: &Table<'_>, row: usize, rows: &[(&str, Sel)], ctx: &Context) -> bool {
    rows.iter().all(|(c, sel)| {
        let v = t.grid.get(row, c);
        match sel {
            Sel::Is(x) => v == Some(*x),
            Sel::Not(xs) => v.is_some_and(|v| !xs.contains(&v)),
            Sel::FocusLa => v.is_some_and(|v| ctx.focus_las.contains(v)),
        }
    })
}

/// A readable name for a cell: view[period type keys].column.
fn cell_name(t: &Table<'_>, row: usize, col: &str) -> String {
    let key: Vec<&str> = ["period", "period_type"].iter().chain(t.spec.keys).filter_map(|k| t.grid.get(row, k)).collect();
    format!("{}[{}].{col}", t.view, key.join(" "))
}

/// Builds the variables and equations of the outputs.
pub fn instantiate(tables: &[Table<'_>], ctx: &Context) -> Model {
    let mut m = Model::default();
    for (ti, t) in tables.iter().enumerate() {
        for name in t.spec.counts {
            let Some(c) = t.grid.col(name) else { continue };
            for r in 0..t.grid.rows.len() {
                if let Some(v) = count_of(&t.grid.rows[r][c]) {
                    m.cell_var.insert((ti, r, c), m.vars.len());
                    m.vars.push(Var { kind: VarKind::Published((ti, r, c)), exact: v, name: cell_name(t, r, name) });
                }
            }
        }
    }
    let by_view: HashMap<&str, usize> = tables.iter().enumerate().map(|(i, t)| (t.view, i)).collect();
    for t in tables {
        for rel in t.spec.relations {
            add_relation(&mut m, tables, &by_view, rel, ctx);
        }
    }
    add_same_periods(&mut m, tables, ctx);
    super::time::add_sums_over_time(&mut m, tables, ctx);
    m
}

/// A term's rows by the key positions it matches on.
type TermIndex = (usize, usize, Vec<usize>, HashMap<Vec<String>, Vec<usize>>);

fn index_term(tables: &[Table<'_>], by_view: &HashMap<&str, usize>, term: &Term, ctx: &Context) -> Option<TermIndex> {
    let ti = *by_view.get(term.view)?;
    let t = &tables[ti];
    let col = t.grid.col(term.column)?;
    let positions: Vec<usize> = term.keys.iter().enumerate().filter(|(_, k)| !matches!(k, K::Any)).map(|(i, _)| i).collect();
    let mut index: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
    for r in (0..t.grid.rows.len()).filter(|r| passes(t, *r, term.rows, ctx)) {
        if let Some(key) = key_of(t, r, term.keys, ctx) {
            index.entry(positions.iter().map(|p| key[*p].clone().unwrap_or_default()).collect()).or_default().push(r);
        }
    }
    Some((ti, col, positions, index))
}

fn add_relation(m: &mut Model, tables: &[Table<'_>], by_view: &HashMap<&str, usize>, rel: &Relation, ctx: &Context) {
    let sides: Vec<(i64, &Term)> = rel.total.iter().map(|t| (1, t)).chain(rel.parts.iter().map(|t| (-1, t))).collect();
    let Some(indexes) = sides.iter().map(|(_, t)| index_term(tables, by_view, t, ctx)).collect::<Option<Vec<_>>>() else { return };
    let first = &indexes[0];
    let mut keys: BTreeSet<Vec<String>> = BTreeSet::new();
    keys.extend(first.3.keys().cloned());
    for key in keys {
        let full: Vec<Option<String>> = {
            // The first term matches every position.
            let mut k = vec![None; sides[0].1.keys.len()];
            for (p, v) in first.2.iter().zip(&key) {
                k[*p] = Some(v.clone());
            }
            k
        };
        let mut terms: BTreeMap<usize, i64> = BTreeMap::new();
        let mut complete = true;
        for ((sign, _), (ti, col, positions, index)) in sides.iter().zip(&indexes) {
            let Some(projected) = positions.iter().map(|p| full.get(*p).cloned().flatten()).collect::<Option<Vec<String>>>() else {
                complete = false;
                break;
            };
            let Some(rows) = index.get(&projected) else {
                complete = false;
                break;
            };
            for r in rows {
                match m.cell_var.get(&(*ti, *r, *col)) {
                    Some(v) => *terms.entry(*v).or_default() += sign,
                    None => complete = false,
                }
            }
        }
        if !complete {
            continue;
        }
        let diff: i64 = terms.iter().map(|(v, c)| c * m.vars[*v].exact).sum();
        let label = || format!("{} at [{}]", rel.name, key.join(" "));
        match rel.rest {
            Rest::Exact if diff != 0 => {
                m.violations.push(format!("{}: total minus parts is {diff}, not 0", label()));
                continue;
            }
            Rest::Count(_) | Rest::Slack(_) if diff < 0 => {
                m.violations.push(format!("{}: the parts exceed the total by {}", label(), -diff));
                continue;
            }
            Rest::Exact => {}
            Rest::Count(name) | Rest::Slack(name) => {
                let v = m.vars.len();
                m.vars.push(Var {
                    kind: VarKind::Hidden { sensitive: matches!(rel.rest, Rest::Count(_)) },
                    exact: diff,
                    name: format!("{name} [{}] (not published)", key.join(" ")),
                });
                terms.insert(v, -1);
            }
        }
        terms.retain(|_, c| *c != 0);
        *m.instances.entry(rel.name).or_default() += 1;
        if !terms.is_empty() {
            m.eqs.push(Equation { relation: rel.name, terms: terms.into_iter().collect() });
        }
    }
}

/// A rolling period with the same dates as a financial year is the same
/// count as the year's, cell for cell.
fn add_same_periods(m: &mut Model, tables: &[Table<'_>], ctx: &Context) {
    if ctx.same_period.is_empty() {
        return;
    }
    for (ti, t) in tables.iter().enumerate() {
        let (Some(pc), Some(tc)) = (t.grid.col("period"), t.grid.col("period_type")) else { continue };
        let key_cols: Vec<usize> = t.spec.keys.iter().filter_map(|k| t.grid.col(k)).collect();
        let row_key = |r: usize, period: &str, ptype: &str| -> Vec<String> {
            let row = &t.grid.rows[r];
            [period.to_string(), ptype.to_string()]
                .into_iter()
                .chain(key_cols.iter().map(|c| row[*c].clone().unwrap_or_default()))
                .collect()
        };
        let mut rows: HashMap<Vec<String>, usize> = HashMap::new();
        for (r, row) in t.grid.rows.iter().enumerate() {
            if let (Some(p), Some(ty)) = (&row[pc], &row[tc]) {
                rows.insert(row_key(r, p, ty), r);
            }
        }
        for (r, row) in t.grid.rows.iter().enumerate() {
            let (Some(p), Some(ty)) = (&row[pc], &row[tc]) else { continue };
            let Some(same) = ctx.same_period.get(p).filter(|_| ty != "financial_year") else { continue };
            let Some(&fr) = rows.get(&row_key(r, same, "financial_year")) else { continue };
            for name in t.spec.counts {
                let Some(c) = t.grid.col(name) else { continue };
                if let (Some(&a), Some(&b)) = (m.cell_var.get(&(ti, r, c)), m.cell_var.get(&(ti, fr, c))) {
                    *m.instances.entry("same period").or_default() += 1;
                    if m.vars[a].exact != m.vars[b].exact {
                        m.violations.push(format!(
                            "same period: {} is {} but {} is {}",
                            m.vars[a].name, m.vars[a].exact, m.vars[b].name, m.vars[b].exact
                        ));
                        continue;
                    }
                    m.eqs.push(Equation { relation: "same period", terms: vec![(a, 1), (b, -1)] });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::{Grid, Spec};

    fn grid(cols: &[&str], rows: &[&[&str]]) -> Grid {
        Grid::of(cols, rows)
    }

    #[test]
    fn instances_join_terms_by_key_and_shift_years() {
        const KEYS: &[K] = &[K::C("period")];
        const PREV: &[K] = &[K::YearsOn("period", 1)];
        const REL: &[Relation] =
            &[Relation { name: "previous", total: &[t("v", "previous", KEYS, &[])], parts: &[t("v", "n", PREV, &[])], rest: Rest::Exact }];
        let spec = Spec { in_time: &[], counts: &["n", "previous"], relations: REL, ..Spec::NONE };
        let g = grid(&["period", "n", "previous"], &[&["2021/22", "4", ""], &["2022/23", "6", "4"], &["2023/24", "9", "5"]]);
        let m = instantiate(&[Table { view: "v", spec: &spec, grid: &g }], &Context::default());
        // 2022/23: previous 4 = 2021/22's n. 2023/24: previous 5 but 2022/23 had 6.
        assert_eq!(m.instances["previous"], 1);
        assert_eq!(m.eqs.len(), 1);
        assert_eq!(m.violations.len(), 1, "{:?}", m.violations);
        assert!(m.violations[0].contains("2023/24"), "{:?}", m.violations);
    }

    #[test]
    fn a_counted_rest_is_a_hidden_cell_with_its_exact_value() {
        const REL: &[Relation] = &[Relation {
            name: "not male",
            total: &[t("y", "people", &[K::C("p")], &[])],
            parts: &[t("y", "male", &[K::C("p")], &[])],
            rest: Rest::Count("not male"),
        }];
        let spec = Spec { in_time: &[], counts: &["people", "male"], relations: REL, ..Spec::NONE };
        let g = grid(&["p", "people", "male"], &[&["a", "12", "10"]]);
        let m = instantiate(&[Table { view: "y", spec: &spec, grid: &g }], &Context::default());
        assert_eq!(m.vars.len(), 3);
        assert_eq!(m.vars[2].exact, 2);
        assert_eq!(m.vars[2].kind, VarKind::Hidden { sensitive: true });
        assert_eq!(m.eqs[0].terms, vec![(0, 1), (1, -1), (2, -1)]);
    }

    #[test]
    fn focus_filter_and_any_positions() {
        // focus = sum of the focus LAs, per category; 'x' is outside the focus.
        const REL: &[Relation] = &[Relation {
            name: "areas",
            total: &[t("h", "n", &[K::C("cat")], &[("area", Sel::Is("focus"))])],
            parts: &[t("h", "n", &[K::C("cat")], &[("area", Sel::FocusLa)])],
            rest: Rest::Exact,
        }];
        let spec = Spec { in_time: &[], counts: &["n"], relations: REL, ..Spec::NONE };
        let g = grid(&["area", "cat", "n"], &[&["focus", "a", "5"], &["la1", "a", "2"], &["la2", "a", "3"], &["x", "a", "7"]]);
        let ctx = Context::new(["la1".to_string(), "la2".to_string()]);
        let m = instantiate(&[Table { view: "h", spec: &spec, grid: &g }], &ctx);
        assert!(m.violations.is_empty(), "{:?}", m.violations);
        assert_eq!(m.eqs[0].terms, vec![(0, 1), (1, -1), (2, -1)]);
    }

    #[test]
    fn financial_year_labels() {
        assert_eq!(fy_start("2023/24"), Some(2023));
        assert_eq!(fy_start("2023/25"), None);
        assert_eq!(fy_label(2099), "2099/00");
    }
}
