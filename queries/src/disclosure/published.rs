//! Auditing what was actually published: tables as an audience received
//! them (possibly fewer rows than computed), matched to the exact outputs
//! by their keys, so the audit does not trust the code that protected them.

use super::audit::{self, Finding, Shown, Stats};
use super::structure::{self, Model, VarKind};
use super::{Context, DisclosureError, Grid, Rules, SUPPRESSED, Table, derive};
use std::collections::HashMap;

/// The columns that name a row of a table.
fn row_key(t: &Table<'_>, g: &Grid, r: usize) -> Vec<Option<String>> {
    ["period", "period_type"].iter().chain(t.spec.keys).filter(|k| g.col(k).is_some()).map(|k| g.get(r, k).map(String::from)).collect()
}

/// The audit of published tables against the exact ones.
pub struct PublishedAudit {
    pub model: Model,
    pub shown: Vec<Shown>,
    pub findings: Vec<Finding>,
    pub stats: Stats,
    /// Derived figures that are not what the published counts give.
    pub derived_mismatches: Vec<String>,
}

/// `published[i]` is what the audience received of `tables[i]` (`None`:
/// the table was not published).
pub fn audit_published(
    tables: &[Table<'_>],
    published: &[Option<&Grid>],
    ctx: &Context,
    rules: &Rules,
) -> Result<PublishedAudit, DisclosureError> {
    let model = structure::instantiate(tables, ctx);
    // Exact row -> published row, per table.
    let mut row_of: Vec<HashMap<usize, usize>> = Vec::new();
    let mut derived_mismatches = Vec::new();
    for (t, p) in tables.iter().zip(published) {
        let mut map = HashMap::new();
        // Tables with no counts (commitments, extracts) are not audited.
        if let Some(p) = p.filter(|_| !t.spec.counts.is_empty()) {
            let by_key: HashMap<Vec<Option<String>>, usize> = (0..p.rows.len()).map(|r| (row_key(t, p, r), r)).collect();
            if by_key.len() != p.rows.len() {
                return Err(DisclosureError::Inconsistent(format!("{}: rows are not unique by their keys", t.view)));
            }
            for r in 0..t.grid.rows.len() {
                if let Some(pr) = by_key.get(&row_key(t, t.grid, r)) {
                    map.insert(r, *pr);
                }
            }
            // Derived figures must be what the published counts give.
            let rows: Vec<usize> = (0..t.grid.rows.len()).filter(|r| map.contains_key(r)).collect();
            let exact = Grid { columns: t.grid.columns.clone(), rows: rows.iter().map(|r| t.grid.rows[*r].clone()).collect() };
            let shown = Grid { columns: p.columns.clone(), rows: rows.iter().map(|r| p.rows[map[r]].clone()).collect() };
            let mut again = shown.clone();
            derive::apply(&exact, &mut again, t.spec, rules);
            for (name, _) in t.spec.derived {
                let Some(c) = shown.col(name) else { continue };
                for r in 0..shown.rows.len() {
                    if shown.rows[r][c] != again.rows[r][c] {
                        derived_mismatches.push(format!(
                            "{}.{name} row {r}: published {:?}, from the published counts {:?}",
                            t.view, shown.rows[r][c], again.rows[r][c]
                        ));
                    }
                }
            }
        }
        row_of.push(map);
    }
    let mut shown = Vec::with_capacity(model.vars.len());
    for var in &model.vars {
        shown.push(match var.kind {
            VarKind::Hidden { .. } | VarKind::Atom => Shown::Hidden,
            VarKind::Published((t, r, c)) => {
                let cell = row_of[t]
                    .get(&r)
                    .and_then(|pr| published[t].and_then(|g| g.col(&tables[t].grid.columns[c]).and_then(|pc| g.rows[*pr][pc].as_deref())));
                match cell {
                    None => Shown::Hidden,
                    Some(SUPPRESSED) => Shown::Suppressed,
                    Some(v) => {
                        let v: i64 = v.parse().map_err(|_| DisclosureError::Inconsistent(format!("{} is published as {v:?}", var.name)))?;
                        let (lo, hi) = rules.published_range(v);
                        if var.exact < lo || var.exact > hi {
                            return Err(DisclosureError::Inconsistent(format!("{} is published as {v} but is {}", var.name, var.exact)));
                        }
                        Shown::Value(v)
                    }
                }
            }
        });
    }
    let (findings, stats) = audit::run(&model, &shown, rules, None)?;
    Ok(PublishedAudit { model, shown, findings, stats, derived_mismatches })
}
