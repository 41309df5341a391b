//! Disclosure control: the one step every published output passes through,
//! after all aggregation, as ONE problem over every table an audience
//! receives (an intruder has all of them at once).
//!
//! | module | job |
//! |---|---|
//! | [`structure`] | declared linear relations among cells (totals, unions, areas, complements, the same count in two measures) and their instances over actual tables |
//! | [`suppress`] | primary suppression, rounding, and greedy secondary suppression driven by the audit |
//! | [`audit`] | the intruder: the tightest interval for every protected cell from everything published, by linear programming |
//! | [`derive`] | rates, percentages and changes recomputed from the protected counts |
//! | [`published`] | the audit of tables as published, matched to the exact ones by key |
//!
//! Policies per audience: `public` suppresses counts 1-7 (`*`) and rounds
//! other counts to the nearest 5; `partner` suppresses counts 1-4;
//! `analyst` sees exact counts. Zeros are true zeros and are shown. The
//! protection level `p` (default: the threshold) is what an intruder must
//! not beat: see [`audit`] for the exact definition.

pub mod audit;
pub mod derive;
pub mod published;
pub mod structure;
pub mod suppress;
pub mod time;

pub use crate::error::DisclosureError;
pub use audit::{AuditReport, Finding, Interval};
pub use derive::Derived;
pub use structure::{K, Relation, Rest, Sel, Term};
pub use suppress::Protected;

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
        self.rules().threshold
    }

    /// The policy's rules with their default protection level.
    pub fn rules(self) -> Rules {
        match self {
            Policy::Public => Rules { policy: self, threshold: 7, rounding: Some(5), protection: 7, min_rate_events: 10 },
            Policy::Partner => Rules { policy: self, threshold: 4, rounding: None, protection: 4, min_rate_events: 10 },
            Policy::Analyst => Rules { policy: self, threshold: 0, rounding: None, protection: 0, min_rate_events: 0 },
        }
    }
}

/// The protection level of each audience that publishes (`[disclosure]`
/// in the configuration): one value, so reports, `vru disclosure audit` and
/// the SQL service protect the same figures the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub public: i64,
    pub partner: i64,
}

impl Default for Protection {
    fn default() -> Self {
        Protection { public: Policy::Public.rules().protection, partner: Policy::Partner.rules().protection }
    }
}

/// The `[disclosure]` section of the configuration: the two protection
/// levels, from which every policy's rules follow.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisclosureConfig {
    /// Protection level of the `public` policy: an intruder's interval for
    /// a suppressed count of 1-7 must reach this far above its true value
    /// (and down to 1). Reports, `vru disclosure audit` and the SQL
    /// service.
    pub public_protection: i64,
    /// The same for the `partner` policy (counts 1-4).
    pub partner_protection: i64,
}

impl Default for DisclosureConfig {
    fn default() -> Self {
        DisclosureConfig { public_protection: 7, partner_protection: 4 }
    }
}

impl DisclosureConfig {
    pub fn protection(&self) -> Protection {
        Protection { public: self.public_protection, partner: self.partner_protection }
    }

    pub fn rules(&self, policy: Policy) -> Rules {
        self.protection().rules(policy)
    }
}

impl Protection {
    /// The policy's rules at this protection level.
    pub fn rules(&self, policy: Policy) -> Rules {
        let rules = policy.rules();
        match policy {
            Policy::Public => rules.with_protection(self.public),
            Policy::Partner => rules.with_protection(self.partner),
            Policy::Analyst => rules,
        }
    }
}

/// What a policy does, with its protection level (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub policy: Policy,
    /// Counts 1..=threshold are suppressed.
    pub threshold: i64,
    /// Other counts are rounded to a multiple of this.
    pub rounding: Option<i64>,
    /// An intruder's interval for a small count must reach this far on
    /// each side of the true value (see [`audit`]).
    pub protection: i64,
    /// Rates on a published count under this are not shown.
    pub min_rate_events: i64,
}

impl Rules {
    pub fn with_protection(self, protection: i64) -> Rules {
        Rules { protection, ..self }
    }

    /// Whether the audience gets exact numbers (nothing to protect).
    pub fn is_exact(&self) -> bool {
        self.threshold == 0 && self.rounding.is_none()
    }

    /// The published form of a count that is not suppressed.
    pub fn round(&self, v: i64) -> i64 {
        match self.rounding {
            Some(step) => ((v as f64 / step as f64).round() as i64) * step,
            None => v,
        }
    }

    /// The true values an intruder knows a published count `r` can stand
    /// for: `r` exactly without rounding; else the values that round to
    /// it, none of them small (small counts are never shown).
    pub fn published_range(&self, r: i64) -> (i64, i64) {
        match self.rounding {
            Some(_) if r == 0 => (0, 0),
            Some(s) => ((r - s / 2).max(self.threshold + 1), r + (s - 1) / 2),
            None => (r, r),
        }
    }
}

/// What each column of a measure is, for disclosure control. Columns not
/// named are passed through (keys, labels, resident populations).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Count columns that are sums of events over their period: an
    /// intruder can subtract overlapping periods (see [`time`]).
    pub in_time: &'static [time::InTime],
    /// Counts of people or events.
    pub counts: &'static [&'static str],
    /// Figures computed from counts, recomputed from the protected counts.
    pub derived: &'static [(&'static str, Derived)],
    /// Columns naming a row within a period (with `period` and
    /// `period_type`): used to pair a rolling period with the financial
    /// year it coincides with, and to name cells in the audit.
    pub keys: &'static [&'static str],
    /// The linear relations among this measure's cells and with other
    /// measures' cells that an intruder can use.
    pub relations: &'static [Relation],
    /// Count columns in no relation, each with the reason.
    pub standalone: &'static [(&'static str, &'static str)],
}

impl Spec {
    pub const NONE: Spec = Spec { in_time: &[], counts: &[], derived: &[], keys: &[], relations: &[], standalone: &[] };
}

/// A result as text: what disclosure control reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grid {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Grid {
    /// A grid from literal cells, an empty string standing for NULL: the
    /// tables the unit tests of every disclosure module are written in.
    #[cfg(test)]
    pub(crate) fn of(cols: &[&str], rows: &[&[&str]]) -> Grid {
        Grid {
            columns: cols.iter().map(|c| c.to_string()).collect(),
            rows: rows.iter().map(|r| r.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()).collect(),
        }
    }

    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub fn get(&self, row: usize, name: &str) -> Option<&str> {
        self.col(name).and_then(|c| self.rows[row][c].as_deref())
    }
}

pub(crate) fn count_of(cell: &Option<String>) -> Option<i64> {
    cell.as_deref().and_then(|s| s.parse::<i64>().ok())
}

/// One published output: a measure's view name, its declaration and its
/// exact rows.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    pub view: &'static str,
    pub spec: &'a Spec,
    pub grid: &'a Grid,
}

/// Facts about the run the declarations refer to.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Local authority codes of the focus area.
    pub focus_las: BTreeSet<String>,
    /// Period labels that name the same dates as another label: a rolling
    /// 12 months that is exactly a financial year maps to the year's label.
    pub same_period: BTreeMap<String, String>,
    /// Every period label's dates (previous periods' too).
    pub spans: BTreeMap<String, time::Span>,
    /// The measures over the pieces overlapping periods cut time into;
    /// `None` when no two periods overlap unless they are the same.
    pub atoms: Option<time::AtomOutputs>,
}

impl Context {
    pub fn new(focus_las: impl IntoIterator<Item = String>) -> Self {
        Context { focus_las: focus_las.into_iter().collect(), ..Context::default() }
    }

    /// Reads the periods' dates and which labels coincide from the
    /// session's `report_periods`, and, when periods overlap, runs the
    /// measures that sum over time with the atoms as periods.
    pub async fn from_session(ctx: &datafusion::prelude::SessionContext, focus_area: &[String]) -> Result<Context, crate::QueryError> {
        // Calendar years are not published under disclosure control (see
        // `crate::measures::Measure::controlled_rows`).
        let skip = crate::measures::UNCONTROLLED_PERIOD_TYPE;
        let sql = format!(
            "SELECT period AS label, CAST(start_ts AS VARCHAR) AS s, CAST(end_ts AS VARCHAR) AS e, period_type = 'financial_year' AS fy FROM report_periods WHERE period_type <> '{skip}' \
             UNION ALL SELECT previous_period, CAST(previous_start_ts AS VARCHAR), CAST(previous_end_ts AS VARCHAR), period_type = 'financial_year' FROM report_periods WHERE previous_period IS NOT NULL AND period_type <> '{skip}'"
        );
        let grid = crate::report::grid_of(&ctx.sql(&sql).await?.collect().await?)?;
        let mut by_dates: BTreeMap<(String, String), Vec<(bool, String)>> = BTreeMap::new();
        for r in 0..grid.rows.len() {
            let (Some(l), Some(s), Some(e)) = (grid.get(r, "label"), grid.get(r, "s"), grid.get(r, "e")) else { continue };
            by_dates.entry((s.into(), e.into())).or_default().push((grid.get(r, "fy") == Some("true"), l.into()));
        }
        let mut out = Context::new(focus_area.iter().cloned());
        for labels in by_dates.values_mut() {
            // The financial year's label is the canonical one.
            labels.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            labels.dedup_by(|a, b| a.1 == b.1);
            for (_, l) in &labels[1..] {
                out.same_period.insert(l.clone(), labels[0].1.clone());
            }
        }
        // What the data cover is published (`period_coverage`): months
        // outside it are known to hold nothing, so a period's span for
        // subtraction is what it covers (the first calendar year of data
        // starting in April is April to December, inside the financial year).
        let cover = "SELECT CAST(date_trunc('month', min(occurred_at)) AS VARCHAR) AS s, \
                     CAST(date_trunc('month', max(occurred_at)) + INTERVAL '1 month' AS VARCHAR) AS e FROM police_offences_log";
        let cover = crate::report::grid_of(&ctx.sql(cover).await?.collect().await?)?;
        let (Some(cs), Some(ce)) = (cover.rows.first().and_then(|_| cover.get(0, "s")), cover.rows.first().and_then(|_| cover.get(0, "e")))
        else {
            return Ok(out);
        };
        let (cs, ce) = (cs.to_string(), ce.to_string());
        for ((s, e), labels) in &by_dates {
            let span = (s.max(&cs).clone(), e.min(&ce).clone());
            for (_, l) in labels.iter().filter(|_| span.0 < span.1) {
                out.spans.insert(l.clone(), span.clone());
            }
        }
        if let Some(atoms) = time::atoms(out.spans.values().cloned()) {
            let views: Vec<&'static str> =
                crate::measures::MEASURES.iter().filter(|m| !m.spec.in_time.is_empty()).map(|m| m.view).collect();
            let grids = crate::period_atoms::measures_over(ctx, &atoms, &views).await?;
            out.atoms = Some(time::AtomOutputs { atoms, grids });
        }
        Ok(out)
    }
}

/// Protects every table of an audience together: see [`suppress::protect`].
pub fn protect(tables: &[Table<'_>], ctx: &Context, rules: &Rules) -> Result<Protected, DisclosureError> {
    suppress::protect(tables, ctx, rules)
}
