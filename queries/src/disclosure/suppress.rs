//! Primary and secondary suppression over every table of an audience at
//! once.
//!
//! 1. Primary: counts 1..=threshold are suppressed; others are rounded
//!    (public). The same count published in two places is suppressed in
//!    both if in either.
//! 2. Secondary, greedy and driven by the audit: audit every cell; for each
//!    exposed cell take the equation that pins it hardest (the narrowest
//!    interval it implies from the cells' own bounds) among those that
//!    still hold a published non-zero count, and suppress that equation's
//!    smallest published non-zero count (the cell itself if it is a
//!    rounded cell whose exact value is exposed). Repeat with only the
//!    cells still exposed and the newly suppressed ones: suppressing more
//!    only relaxes the intruder's problem, so a cell once protected stays
//!    protected. Zeros are never suppressed.
//!
//! This is not optimal (tau-ARGUS's modular method solves a MIP per
//! sensitive cell for the cheapest pattern); it is simple, deterministic
//! and every pattern it returns has passed the audit.

use super::audit::{self, AuditReport, Dsu, Need, Shown};
use super::structure::{self, Model, VarKind};
use super::{Context, DisclosureError, Grid, Rules, SUPPRESSED, Table, derive};
use std::collections::BTreeSet;
use std::time::Instant;

/// The published tables and how they were protected.
#[derive(Debug, Clone)]
pub struct Protected {
    /// The tables as published, in the order given.
    pub grids: Vec<Grid>,
    /// Count cells suppressed because small.
    pub primary: usize,
    /// Count cells suppressed to protect others.
    pub secondary: usize,
    /// Rounds of the greedy secondary suppression.
    pub rounds: usize,
    /// The audit of the final pattern (the last round's checks, with every
    /// cell checked in the first round).
    pub audit: AuditReport,
}

/// Applies the rules to every table together; `tables` must hold every
/// output the audience receives.
pub fn protect(tables: &[Table<'_>], ctx: &Context, rules: &Rules) -> Result<Protected, DisclosureError> {
    if rules.is_exact() {
        let grids = tables.iter().map(|t| t.grid.clone()).collect();
        return Ok(Protected {
            grids,
            primary: 0,
            secondary: 0,
            rounds: 0,
            audit: AuditReport { audience: rules.policy.as_str().into(), ..Default::default() },
        });
    }
    let started = Instant::now();
    let m = structure::instantiate(tables, ctx);
    for v in &m.violations {
        tracing::warn!(violation = %v, "declared relation does not hold: left out of disclosure control");
    }
    let aliases = alias_classes(&m);
    let mut shown: Vec<Shown> = m
        .vars
        .iter()
        .map(|v| match v.kind {
            VarKind::Hidden { .. } | VarKind::Atom => Shown::Hidden,
            VarKind::Published(_) if (1..=rules.threshold).contains(&v.exact) => Shown::Suppressed,
            VarKind::Published(_) => Shown::Value(rules.round(v.exact)),
        })
        .collect();
    close_aliases(&aliases, &mut shown);
    let primary = shown.iter().filter(|s| **s == Shown::Suppressed).count();
    let mut only: Option<Vec<usize>> = None;
    let mut totals = audit::Stats::default();
    let mut rounds = 0;
    let findings = loop {
        rounds += 1;
        let (findings, stats) = audit::run_with(&m, &shown, rules, only.as_deref(), audit::Depth::Witness)?;
        if only.is_none() {
            totals.checked = stats.checked;
        }
        totals.solves += stats.solves;
        totals.components = totals.components.max(stats.components);
        totals.largest = totals.largest.max(stats.largest);
        let exposed: Vec<&audit::Finding> = findings.iter().filter(|f| f.exposed).collect();
        tracing::debug!(round = rounds, exposed = exposed.len(), solves = stats.solves, "secondary suppression");
        let mut newly = BTreeSet::new();
        for f in &exposed {
            if let Some(v) = choose(&m, &shown, rules, f.var, f.need) {
                newly.insert(v);
            }
        }
        for v in &newly {
            shown[*v] = Shown::Suppressed;
        }
        close_aliases(&aliases, &mut shown);
        if newly.is_empty() {
            break findings;
        }
        let mut next: BTreeSet<usize> = exposed.iter().map(|f| f.var).collect();
        next.extend((0..m.vars.len()).filter(|v| shown[*v] == Shown::Suppressed && newly.iter().any(|n| aliases[*n] == aliases[*v])));
        only = Some(next.into_iter().collect());
    };
    let published: usize = shown.iter().filter(|s| **s == Shown::Suppressed).count();
    let mut grids: Vec<Grid> = tables.iter().map(|t| t.grid.clone()).collect();
    for (v, var) in m.vars.iter().enumerate() {
        if let VarKind::Published((t, r, c)) = var.kind {
            grids[t].rows[r][c] = Some(match shown[v] {
                Shown::Suppressed => SUPPRESSED.to_string(),
                Shown::Value(x) => x.to_string(),
                Shown::Hidden => unreachable!("published cells are shown or suppressed"),
            });
        }
    }
    for (t, g) in tables.iter().zip(grids.iter_mut()) {
        derive::apply(t.grid, g, t.spec, rules);
    }
    let audit = audit::report(&m, &shown, &findings, totals, rules, started.elapsed().as_millis() as u64);
    Ok(Protected { grids, primary, secondary: published - primary, rounds, audit })
}

/// The class of cells that are the same count (two-cell equalities).
fn alias_classes(m: &Model) -> Vec<usize> {
    let mut d = Dsu::new(m.vars.len());
    for e in &m.eqs {
        if let [(a, 1), (b, -1)] | [(a, -1), (b, 1)] = e.terms.as_slice() {
            d.union(*a, *b);
        }
    }
    (0..m.vars.len()).map(|v| d.find(v)).collect()
}

/// A count suppressed anywhere is suppressed everywhere it is published.
fn close_aliases(class: &[usize], shown: &mut [Shown]) {
    let hidden: BTreeSet<usize> = (0..shown.len()).filter(|v| shown[*v] == Shown::Suppressed).map(|v| class[v]).collect();
    for v in 0..shown.len() {
        if hidden.contains(&class[v]) && matches!(shown[v], Shown::Value(_)) {
            shown[v] = Shown::Suppressed;
        }
    }
}

/// The cell to suppress next for an exposed cell `v`.
fn choose(m: &Model, shown: &[Shown], rules: &Rules, v: usize, need: Need) -> Option<usize> {
    let candidate = |w: usize| matches!(shown[w], Shown::Value(_)) && m.vars[w].exact != 0;
    if need == Need::NotExact && candidate(v) {
        return Some(v);
    }
    let bound = |w: usize| audit::apriori(shown[w], rules);
    // Each equation with v, by the width of the interval it alone implies for v.
    let mut options: Vec<(f64, usize)> = Vec::new();
    for (i, e) in m.eqs.iter().enumerate() {
        let Some(&(_, cv)) = e.terms.iter().find(|(w, _)| *w == v) else { continue };
        // cv * v = -sum(others): the range of the right-hand side.
        let (mut lo, mut hi) = (0f64, 0f64);
        for &(w, c) in e.terms.iter().filter(|(w, _)| *w != v) {
            let (l, h) = bound(w);
            let (l, h) = (l as f64, h.map_or(f64::INFINITY, |h| h as f64));
            let (a, b) = if c > 0 { (-(c as f64) * h, -(c as f64) * l) } else { (-(c as f64) * l, -(c as f64) * h) };
            lo += a;
            hi += b;
        }
        let width = (hi - lo) / cv.unsigned_abs() as f64;
        if e.terms.iter().any(|(w, _)| *w != v && candidate(*w)) {
            options.push((if width.is_nan() { f64::INFINITY } else { width }, i));
        }
    }
    options.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    if let Some((_, i)) = options.first() {
        return m.eqs[*i].terms.iter().map(|(w, _)| *w).filter(|w| *w != v && candidate(*w)).min_by_key(|w| (m.vars[*w].exact, *w));
    }
    // Every equation with v is already hidden: what pins v is further
    // away (the cells hiding it are pinned by their own margins). Search
    // outwards, equation by equation, for the nearest published count.
    let mut seen_vars: BTreeSet<usize> = BTreeSet::from([v]);
    let mut seen_eqs: BTreeSet<usize> = BTreeSet::new();
    let mut frontier = vec![v];
    for _ in 0..8 {
        let eqs: Vec<usize> =
            (0..m.eqs.len()).filter(|i| !seen_eqs.contains(i) && m.eqs[*i].terms.iter().any(|(w, _)| frontier.contains(w))).collect();
        if eqs.is_empty() {
            return None;
        }
        let found = eqs
            .iter()
            .flat_map(|i| m.eqs[*i].terms.iter().map(|(w, _)| *w))
            .filter(|w| candidate(*w))
            .min_by_key(|w| (m.vars[*w].exact, *w));
        if found.is_some() {
            return found;
        }
        seen_eqs.extend(eqs.iter().copied());
        frontier = eqs.iter().flat_map(|i| m.eqs[*i].terms.iter().map(|(w, _)| *w)).filter(|w| seen_vars.insert(*w)).collect();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::structure::{K, Relation, Rest, t};
    use crate::disclosure::{Derived, Policy, Spec};

    fn grid(cols: &[&str], rows: &[&[&str]]) -> Grid {
        Grid::of(cols, rows)
    }

    fn col(g: &Grid, name: &str) -> Vec<String> {
        let c = g.col(name).unwrap();
        g.rows.iter().map(|r| r[c].clone().unwrap_or_default()).collect()
    }

    const KEY: &[K] = &[K::C("p")];
    // H5-like: both = homicide + assault, and a share derived from counts.
    const GROUPS: &[Relation] = &[Relation {
        name: "union of groups",
        total: &[t("h5", "n", KEY, &[("g", crate::disclosure::Sel::Is("both"))])],
        parts: &[t("h5", "n", KEY, &[("g", crate::disclosure::Sel::Not(&["both"]))])],
        rest: Rest::Exact,
    }];
    const H5: Spec = Spec {
        in_time: &[],
        counts: &["n", "region"],
        derived: &[("share", Derived::Pct { num: "n", den: "region" })],
        keys: &["g"],
        relations: GROUPS,
        standalone: &[("region", "test")],
    };

    #[test]
    fn partner_suppresses_the_next_smallest_group_of_the_union() {
        let g = grid(
            &["p", "g", "n", "region", "share"],
            &[&["a", "homicide", "3", "9", "33.3"], &["a", "assault", "20", "40", "50.0"], &["a", "both", "23", "49", "46.9"]],
        );
        let p = protect(&[Table { view: "h5", spec: &H5, grid: &g }], &Context::default(), &Policy::Partner.rules()).unwrap();
        // 3 is small; assault (20) goes too: homicide in [1, 22].
        assert_eq!(col(&p.grids[0], "n"), ["*", "*", "23"]);
        assert_eq!(col(&p.grids[0], "share"), ["*", "*", "46.9"]);
        assert_eq!((p.primary, p.secondary), (1, 1));
        assert!(p.audit.exposed.is_empty());
    }

    #[test]
    fn public_rounds_and_derives_from_the_rounded_counts() {
        let g = grid(
            &["p", "g", "n", "region", "share"],
            &[&["a", "homicide", "3", "9", "33.3"], &["a", "assault", "401", "793", "50.6"], &["a", "both", "404", "802", "50.4"]],
        );
        let p = protect(&[Table { view: "h5", spec: &H5, grid: &g }], &Context::default(), &Policy::Public.rules()).unwrap();
        // 3 would be in [1, 9] from 405 - 400: assault is suppressed too.
        assert_eq!(col(&p.grids[0], "n"), ["*", "*", "405"]);
        assert_eq!(col(&p.grids[0], "region"), ["10", "795", "800"]);
        // 405 / 800 from the published counts, not 404 / 802 (50.4).
        assert_eq!(col(&p.grids[0], "share"), ["*", "*", "50.6"]);
        assert!(p.audit.exposed.is_empty(), "{:?}", p.audit.exposed);
    }

    #[test]
    fn analysts_see_exact_figures() {
        let g = grid(&["p", "g", "n", "region", "share"], &[&["a", "homicide", "3", "9", "33.3"]]);
        let p = protect(&[Table { view: "h5", spec: &H5, grid: &g }], &Context::default(), &Policy::Analyst.rules()).unwrap();
        assert_eq!(p.grids[0], g);
    }
}
