//! The intruder: for every protected cell, the tightest interval that can
//! be derived from everything an audience is given, by linear programming
//! over the declared relations (microlp, a pure-Rust simplex solver).
//!
//! What the intruder knows, per cell:
//! - a suppressed cell (`*`) is at least 1 (zeros are shown);
//! - a published `r` is exactly `r` without rounding; with rounding to 5
//!   it is in `[r-2, r+2]` and, if not 0, above the threshold (small counts
//!   are never shown): `[max(r-2, threshold+1), r+2]`;
//! - an unpublished remainder (not male = people - male) is at least 0;
//! - every declared relation holds; every count is an integer, so LP
//!   bounds are rounded inward (an LP relaxation: the integer interval may
//!   be tighter in contrived tables; for sums over categories and areas the
//!   LP bounds are integral).
//!
//! The protection level `p` of the policy (default: its threshold) is met
//! when:
//! - for a **sensitive** cell (true value `x` in `1..=threshold`, published
//!   as `*` or never published), the interval `[lo, hi]` satisfies
//!   `hi >= x + p` and `lo <= max(x - p, f)`, where `f` is the cell's floor:
//!   its minimum when only which counts are zero is known (every other
//!   count at least 1, remainders at least 0), i.e. what non-negativity and
//!   the shown zeros allow whatever else is published (a 3-year total of
//!   three suppressed non-zero years is at least 3 for anyone). So the
//!   intruder cannot rule out a value `p` above the truth, nor learn more
//!   below it than the zeros already say;
//! - for any other suppressed cell and every rounded published cell, the
//!   interval is not a single value (the exact count cannot be recovered).
//!
//! Solved per connected component of the relation graph, where cells known
//! exactly are constants and cells that are the same count (two-cell
//! equalities) are merged first.

use super::structure::{Model, VarKind};
use super::{DisclosureError, Rules};
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the audience sees of a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Suppressed,
    Value(i64),
    /// Never published (a remainder).
    Hidden,
}

/// An integer interval; `hi: None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: i64,
    pub hi: Option<i64>,
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hi {
            Some(h) => write!(f, "[{}, {h}]", self.lo),
            None => write!(f, "[{}, inf)", self.lo),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// A small count: the interval must reach `p` beyond the truth.
    Sensitive,
    /// The exact value must not be recoverable.
    NotExact,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    #[serde(skip)]
    pub var: usize,
    pub cell: String,
    pub exact: i64,
    pub published: String,
    pub interval: Interval,
    pub need: Need,
    pub exposed: bool,
}

/// The audit's result, as recorded in a report's manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuditReport {
    pub audience: String,
    pub protection: i64,
    pub cells: usize,
    pub relations: usize,
    pub cells_checked: usize,
    pub lp_solves: usize,
    pub components: usize,
    pub largest_component: usize,
    pub suppressed: usize,
    pub exposed: Vec<ExposedCell>,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExposedCell {
    pub cell: String,
    pub published: String,
    pub interval: String,
}

/// Union-find with path halving.
pub(crate) struct Dsu(Vec<usize>);

impl Dsu {
    pub(crate) fn new(n: usize) -> Self {
        Dsu((0..n).collect())
    }
    pub(crate) fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The intruder's a priori bounds for one cell (`None`: unbounded above).
pub fn apriori(shown: Shown, rules: &Rules) -> (i64, Option<i64>) {
    match shown {
        Shown::Hidden => (0, None),
        Shown::Suppressed => (1, None),
        Shown::Value(r) => {
            let (lo, hi) = rules.published_range(r);
            (lo, Some(hi))
        }
    }
}

/// Which protection a cell needs, if any.
pub fn need(m: &Model, v: usize, shown: Shown, rules: &Rules) -> Option<Need> {
    let small = (1..=rules.threshold).contains(&m.vars[v].exact);
    match (shown, &m.vars[v].kind) {
        (Shown::Suppressed, _) if small => Some(Need::Sensitive),
        (Shown::Hidden, VarKind::Hidden { sensitive: true }) if small => Some(Need::Sensitive),
        // A row left out of a publication is a remainder like any other.
        (Shown::Hidden, VarKind::Published(_)) if small => Some(Need::Sensitive),
        // Every piece of a published count is bounded by it: that bound is
        // what publishing the count means. Subtracting overlapping periods
        // must not pin a small piece down to its value.
        (Shown::Hidden, VarKind::Atom) if small => Some(Need::NotExact),
        (Shown::Suppressed, _) => Some(Need::NotExact),
        (Shown::Value(r), _) if rules.rounding.is_some() && r != 0 => Some(Need::NotExact),
        _ => None,
    }
}

/// Whether an interval meets the need for a true value `x`.
pub fn meets(need: Need, x: i64, a: i64, iv: Interval, p: i64) -> bool {
    match need {
        Need::Sensitive => iv.hi.is_none_or(|h| h >= x + p) && iv.lo <= (x - p).max(a),
        Need::NotExact => iv.hi != Some(iv.lo),
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub checked: usize,
    pub solves: usize,
    pub components: usize,
    pub largest: usize,
}

/// How hard the audit works for cells that only must not be exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Both LP bounds of every cell: the tightest interval.
    Tightest,
    /// Cells that must not be exact are first cleared together by feasible
    /// points found with a few LPs over their component (a point that
    /// differs from the truth by at least 1 proves the cell is not exact);
    /// only the rest get their own LPs. Their interval is then a sub-range
    /// of the tightest one. Sensitive cells always get both bounds.
    Witness,
}

/// Audits the cells in `only` (all that need protection when `None`).
pub fn run(m: &Model, shown: &[Shown], rules: &Rules, only: Option<&[usize]>) -> Result<(Vec<Finding>, Stats), DisclosureError> {
    run_with(m, shown, rules, only, Depth::Tightest)
}

pub fn run_with(
    m: &Model,
    shown: &[Shown],
    rules: &Rules,
    only: Option<&[usize]>,
    depth: Depth,
) -> Result<(Vec<Finding>, Stats), DisclosureError> {
    let n = m.vars.len();
    // Merge cells that are the same count, intersecting their bounds.
    let mut same = Dsu::new(n);
    for e in &m.eqs {
        if let [(a, 1), (b, -1)] | [(a, -1), (b, 1)] = e.terms.as_slice() {
            same.union(*a, *b);
        }
    }
    let class: Vec<usize> = (0..n).map(|v| same.find(v)).collect();
    let mut bounds: BTreeMap<usize, (i64, Option<i64>)> = BTreeMap::new();
    for v in 0..n {
        let (lo, hi) = apriori(shown[v], rules);
        let b = bounds.entry(class[v]).or_insert((lo, hi));
        b.0 = b.0.max(lo);
        b.1 = match (b.1, hi) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    let fixed = |c: usize, bounds: &BTreeMap<usize, (i64, Option<i64>)>| bounds[&c].1 == Some(bounds[&c].0);
    // Equations over classes; components through cells not known exactly.
    let eqs: Vec<BTreeMap<usize, i64>> = m
        .eqs
        .iter()
        .map(|e| {
            let mut t = BTreeMap::new();
            for (v, c) in &e.terms {
                *t.entry(class[*v]).or_insert(0) += c;
            }
            t.retain(|_, c| *c != 0);
            t
        })
        .filter(|t| !t.is_empty())
        .collect();
    let mut comp = Dsu::new(n);
    for t in &eqs {
        let free: Vec<usize> = t.keys().copied().filter(|c| !fixed(*c, &bounds)).collect();
        for w in free.windows(2) {
            comp.union(w[0], w[1]);
        }
    }
    let mut eqs_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, t) in eqs.iter().enumerate() {
        if let Some(c) = t.keys().copied().find(|c| !fixed(*c, &bounds)) {
            eqs_of.entry(comp.find(c)).or_default().push(i);
        } else if t.iter().map(|(c, k)| k * bounds[c].0).sum::<i64>() != 0 {
            return Err(DisclosureError::Inconsistent(format!("{} cells published exactly do not add up", m.eqs[i].relation)));
        }
    }
    // The floor model: only which counts are zero is known (every other
    // count is at least 1, remainders at least 0). A sensitive cell's lower
    // side is judged against its minimum there: what non-negativity and the
    // published zeros allow whatever else is published.
    let mut floor_bounds: BTreeMap<usize, (i64, Option<i64>)> = BTreeMap::new();
    for v in 0..n {
        let (lo, hi) = match shown[v] {
            Shown::Value(0) => (0, Some(0)),
            Shown::Hidden => (0, None),
            _ => (1, None),
        };
        let b = floor_bounds.entry(class[v]).or_insert((lo, hi));
        b.0 = b.0.max(lo);
        b.1 = match (b.1, hi) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    let mut floor_comp = Dsu::new(n);
    for t in &eqs {
        let free: Vec<usize> = t.keys().copied().filter(|c| !fixed(*c, &floor_bounds)).collect();
        for w in free.windows(2) {
            floor_comp.union(w[0], w[1]);
        }
    }
    let mut floor_eqs: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, t) in eqs.iter().enumerate() {
        if let Some(c) = t.keys().copied().find(|c| !fixed(*c, &floor_bounds)) {
            floor_eqs.entry(floor_comp.find(c)).or_default().push(i);
        }
    }
    let mut floor_members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for c in floor_bounds.keys() {
        if !fixed(*c, &floor_bounds) {
            floor_members.entry(floor_comp.find(*c)).or_default().push(*c);
        }
    }
    let mut floors: BTreeMap<usize, i64> = BTreeMap::new();
    let targets: Vec<usize> = match only {
        Some(vs) => vs.to_vec(),
        None => (0..n).collect(),
    };
    let mut stats = Stats::default();
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &c in class.iter().take(n) {
        members.entry(comp.find(c)).or_default().push(c);
    }
    stats.components = eqs_of.len();
    let component_vars = |root: usize| -> Vec<usize> {
        let mut vars: Vec<usize> = members[&root].clone();
        vars.sort_unstable();
        vars.dedup();
        vars.retain(|x| !fixed(*x, &bounds));
        vars
    };
    let mut cache: BTreeMap<usize, Interval> = BTreeMap::new();
    if depth == Depth::Witness {
        // Classes needing only "not exact", by component.
        let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &v in &targets {
            if need(m, v, shown[v], rules) == Some(Need::NotExact) && eqs_of.contains_key(&comp.find(class[v])) {
                by_root.entry(comp.find(class[v])).or_default().push(class[v]);
            }
        }
        for (root, mut left) in by_root {
            left.sort_unstable();
            left.dedup();
            if left.len() < 3 {
                continue;
            }
            let vars = component_vars(root);
            stats.largest = stats.largest.max(vars.len());
            let truth: BTreeMap<usize, i64> = vars.iter().map(|c| (*c, m.vars[*c].exact)).collect();
            for round in 0..6u64 {
                let objective: BTreeMap<usize, f64> =
                    left.iter().map(|c| (*c, if mix(*c as u64, round) & 1 == 0 { 1.0 } else { -1.0 })).collect();
                let Some(point) = witness(&vars, &eqs_of[&root], &eqs, &bounds, &truth, &objective, &mut stats)? else { break };
                let before = left.len();
                left.retain(|c| {
                    let (x, y) = (truth[c] as f64, point[c]);
                    if (y - x).abs() >= 1.0 - 1e-6 {
                        let y = if y > x { (y + 1e-6).floor() } else { (y - 1e-6).ceil() } as i64;
                        cache.insert(*c, Interval { lo: y.min(truth[c]), hi: Some(y.max(truth[c])) });
                        false
                    } else {
                        true
                    }
                });
                if left.is_empty() || left.len() == before {
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for v in targets {
        let Some(need) = need(m, v, shown[v], rules) else { continue };
        stats.checked += 1;
        let c = class[v];
        let root = comp.find(c);
        let own = Interval { lo: bounds[&c].0, hi: bounds[&c].1 };
        let iv = match (cache.get(&c).copied(), eqs_of.get(&root)) {
            (Some(iv), _) => iv,
            (None, None) => own,
            (None, Some(eq_ids)) => {
                let vars = component_vars(root);
                stats.largest = stats.largest.max(vars.len());
                let iv = solve(&vars, eq_ids, &eqs, &bounds, c, &mut stats)?;
                cache.insert(c, iv);
                iv
            }
        };
        let x = m.vars[v].exact;
        let mut a = apriori(shown[v], rules).0;
        if need == Need::Sensitive && !meets(need, x, a, iv, rules.protection) && iv.hi.is_none_or(|h| h >= x + rules.protection) {
            let root = floor_comp.find(c);
            a = match (floors.get(&c), floor_eqs.get(&root)) {
                (Some(f), _) => *f,
                (None, None) => floor_bounds[&c].0,
                (None, Some(eq_ids)) => {
                    let f = solve(&floor_members[&root], eq_ids, &eqs, &floor_bounds, c, &mut stats)?.lo;
                    floors.insert(c, f);
                    f
                }
            };
        }
        out.push(Finding {
            var: v,
            cell: m.vars[v].name.clone(),
            exact: x,
            published: match shown[v] {
                Shown::Suppressed => "*".into(),
                Shown::Value(r) => r.to_string(),
                Shown::Hidden => "not published".into(),
            },
            interval: iv,
            need,
            exposed: !meets(need, x, a, iv, rules.protection),
        });
    }
    Ok((out, stats))
}

/// A deterministic hash, for the witness objectives' signs.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// A feasible point of one component optimising `objective`, with
/// unbounded cells capped above their truth (a smaller polytope: its points
/// are points of the intruder's). `None`: the solver found none.
fn witness(
    vars: &[usize],
    eq_ids: &[usize],
    eqs: &[BTreeMap<usize, i64>],
    bounds: &BTreeMap<usize, (i64, Option<i64>)>,
    truth: &BTreeMap<usize, i64>,
    objective: &BTreeMap<usize, f64>,
    stats: &mut Stats,
) -> Result<Option<BTreeMap<usize, f64>>, DisclosureError> {
    let mut p = Problem::new(OptimizationDirection::Maximize);
    let mut idx = BTreeMap::new();
    for &c in vars {
        let (lo, hi) = bounds[&c];
        let hi = hi.unwrap_or(truth[&c] + 1000).max(truth[&c]);
        idx.insert(c, p.add_var(objective.get(&c).copied().unwrap_or(0.0), (lo as f64, hi as f64)));
    }
    add_equations(&mut p, &idx, eq_ids, eqs, bounds);
    stats.solves += 1;
    match p.solve() {
        Ok(outcome) => Ok(outcome.into_solution().ok().map(|s| idx.iter().map(|(c, x)| (*c, s.var_value(*x))).collect())),
        Err(microlp::Error::Infeasible) => {
            Err(DisclosureError::Inconsistent(format!("a component of {} cells has no solution", vars.len())))
        }
        Err(e) => Err(DisclosureError::Solver { vars: vars.len(), message: e.to_string() }),
    }
}

fn add_equations(
    p: &mut Problem,
    idx: &BTreeMap<usize, microlp::Variable>,
    eq_ids: &[usize],
    eqs: &[BTreeMap<usize, i64>],
    bounds: &BTreeMap<usize, (i64, Option<i64>)>,
) {
    for &e in eq_ids {
        let mut lhs = Vec::new();
        let mut rhs = 0.0;
        for (c, k) in &eqs[e] {
            match idx.get(c) {
                Some(x) => lhs.push((*x, *k as f64)),
                None => rhs -= (*k * bounds[c].0) as f64,
            }
        }
        p.add_constraint(lhs.as_slice(), ComparisonOp::Eq, rhs);
    }
}

/// Minimum and maximum of class `target` over one component.
fn solve(
    vars: &[usize],
    eq_ids: &[usize],
    eqs: &[BTreeMap<usize, i64>],
    bounds: &BTreeMap<usize, (i64, Option<i64>)>,
    target: usize,
    stats: &mut Stats,
) -> Result<Interval, DisclosureError> {
    let mut ends = [0f64; 2];
    for (i, dir) in [OptimizationDirection::Minimize, OptimizationDirection::Maximize].into_iter().enumerate() {
        let mut p = Problem::new(dir);
        let mut idx = BTreeMap::new();
        for &c in vars {
            let (lo, hi) = bounds[&c];
            idx.insert(c, p.add_var(if c == target { 1.0 } else { 0.0 }, (lo as f64, hi.map_or(f64::INFINITY, |h| h as f64))));
        }
        add_equations(&mut p, &idx, eq_ids, eqs, bounds);
        stats.solves += 1;
        ends[i] = match p.solve() {
            Ok(outcome) => match outcome.into_solution() {
                Ok(s) => s.objective(),
                Err(_) => return Err(DisclosureError::Solver { vars: vars.len(), message: "stopped without a solution".into() }),
            },
            Err(microlp::Error::Unbounded) if i == 1 => f64::INFINITY,
            Err(microlp::Error::Infeasible) => {
                return Err(DisclosureError::Inconsistent(format!("a component of {} cells has no solution", vars.len())));
            }
            Err(e) => return Err(DisclosureError::Solver { vars: vars.len(), message: e.to_string() }),
        };
    }
    Ok(Interval { lo: (ends[0] - 1e-6).ceil() as i64, hi: ends[1].is_finite().then(|| (ends[1] + 1e-6).floor() as i64) })
}

/// A summary of findings for the manifest and the command line.
pub fn report(m: &Model, shown: &[Shown], findings: &[Finding], stats: Stats, rules: &Rules, millis: u64) -> AuditReport {
    AuditReport {
        audience: rules.policy.as_str().into(),
        protection: rules.protection,
        cells: m.vars.iter().filter(|v| matches!(v.kind, VarKind::Published(_))).count(),
        relations: m.eqs.len(),
        cells_checked: stats.checked,
        lp_solves: stats.solves,
        components: stats.components,
        largest_component: stats.largest,
        suppressed: shown.iter().filter(|s| **s == Shown::Suppressed).count(),
        exposed: findings
            .iter()
            .filter(|f| f.exposed)
            .map(|f| ExposedCell {
                cell: f.cell.clone(),
                published: f.published.clone(),
                interval: format!("{} (exact {})", f.interval, f.exact),
            })
            .collect(),
        millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::Policy;
    use crate::disclosure::structure::{Equation, Var};

    fn model(exact: &[i64], eqs: &[&[(usize, i64)]]) -> Model {
        Model {
            vars: exact
                .iter()
                .enumerate()
                .map(|(i, x)| Var { kind: VarKind::Published((0, i, 0)), exact: *x, name: format!("c{i}") })
                .collect(),
            eqs: eqs.iter().map(|t| Equation { relation: "sum", terms: t.to_vec() }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn differencing_a_union_recovers_a_lone_suppressed_cell() {
        // both = a + b; partner sees a = *, b = 20, both = 23: a = 3 exactly.
        let m = model(&[3, 20, 23], &[&[(2, 1), (0, -1), (1, -1)]]);
        let rules = Policy::Partner.rules();
        let shown = [Shown::Suppressed, Shown::Value(20), Shown::Value(23)];
        let (f, _) = run(&m, &shown, &rules, None).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].interval, Interval { lo: 3, hi: Some(3) });
        assert!(f[0].exposed);
        // With b suppressed too: a in [1, 22], b in [1, 22]: 3 + 4 <= 22.
        let shown = [Shown::Suppressed, Shown::Suppressed, Shown::Value(23)];
        let (f, _) = run(&m, &shown, &rules, None).unwrap();
        assert_eq!(f[0].interval, Interval { lo: 1, hi: Some(22) });
        assert!(f.iter().all(|f| !f.exposed));
    }

    #[test]
    fn rounding_leaves_a_band_and_the_protection_level_decides() {
        // Public: a = 3 (*), b = 400 -> 400 [398, 402], both = 403 -> 405 [403, 407]:
        // a in [1, 9]. 9 < 3 + 7: exposed.
        let m = model(&[3, 400, 403], &[&[(2, 1), (0, -1), (1, -1)]]);
        let rules = Policy::Public.rules();
        let shown = [Shown::Suppressed, Shown::Value(400), Shown::Value(405)];
        let (f, _) = run(&m, &shown, &rules, None).unwrap();
        let a = f.iter().find(|f| f.var == 0).unwrap();
        assert_eq!(a.interval, Interval { lo: 1, hi: Some(9) });
        assert!(a.exposed);
        // The rounded cells are not exact: b in [398, 402], both in [403, 407].
        assert!(f.iter().filter(|f| f.var != 0).all(|f| !f.exposed));
        // A lower protection level (3) is met: 9 >= 3 + 3.
        let (f, _) = run(&m, &shown, &rules.with_protection(3), None).unwrap();
        assert!(f.iter().all(|f| !f.exposed));
    }

    #[test]
    fn rounded_parts_at_their_extremes_pin_every_cell() {
        // Four parts of 13 (published 15: [13, 17]) and their total 52
        // (published 50: [48, 52]): the only solution is the truth.
        let m = model(&[13, 13, 13, 13, 52], &[&[(4, 1), (0, -1), (1, -1), (2, -1), (3, -1)]]);
        let shown = [Shown::Value(15), Shown::Value(15), Shown::Value(15), Shown::Value(15), Shown::Value(50)];
        let (f, stats) = run(&m, &shown, &Policy::Public.rules(), None).unwrap();
        assert_eq!(f.len(), 5);
        assert!(f.iter().all(|f| f.exposed && f.interval.hi == Some(f.interval.lo)), "{f:?}");
        assert_eq!(stats.solves, 10);
    }

    #[test]
    fn same_counts_merge_and_exact_cells_are_constants() {
        // a = b (the same count twice), total = a + c with c published exactly.
        let m = model(&[2, 2, 10, 12], &[&[(0, 1), (1, -1)], &[(3, 1), (0, -1), (2, -1)]]);
        let rules = Policy::Partner.rules();
        let shown = [Shown::Suppressed, Shown::Suppressed, Shown::Value(10), Shown::Suppressed];
        let (f, stats) = run(&m, &shown, &rules, None).unwrap();
        // a = b in [1, inf): total is suppressed too.
        assert!(f.iter().all(|f| !f.exposed), "{f:?}");
        assert_eq!(f[0].interval, Interval { lo: 1, hi: None });
        assert_eq!(stats.largest, 2, "a and b are one cell, c is a constant");
    }
}
