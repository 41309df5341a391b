//! Planning a run: every record of every table through the policy, and
//! every withdrawal file checked and matched, into tallies (counts only)
//! and the list of event versions to erase. Reads the lake and the
//! landing folder; writes nothing.

use super::RetentionError;
use super::facts::{self, PersonDates};
use super::markers;
use super::withdrawals::{self, Found, WithdrawalReceipt};
use crate::lake::Lake;
use crate::limits::Limits;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use vru_model::Source;
use vru_model::ids::EventId;
use vru_model::receipt::Issue;
use vru_model::retention::schema::{Marker, Reason, RunRow};
use vru_model::retention::{Decision, Policy, RecordFacts, Tallies, Tally};
use vru_model::tables::Table;

/// A withdrawal the run will apply: its receipt, and which file it is.
#[derive(Debug, Clone)]
pub struct Withdrawal {
    pub found: Found,
    pub receipt: WithdrawalReceipt,
}

/// What a run would do.
#[derive(Debug, Default)]
pub struct Planned {
    pub tallies: Tallies,
    /// Oldest ingestion time among erased events, per table and partner.
    pub earliest: HashMap<(Table, String), DateTime<Utc>>,
    pub markers: Vec<Marker>,
    /// SHA-256 of extracts holding an erased event.
    pub extracts: HashSet<String>,
    /// [`super::files::record_key`] of every record erased (wholly or in part).
    pub records: HashSet<String>,
    pub withdrawals: Vec<Withdrawal>,
    /// Withdrawal files refused whole, with their receipts.
    pub refused: Vec<Withdrawal>,
    /// Events already made non-searchable by an unfinished run, per table.
    pub pending: BTreeMap<String, usize>,
}

impl Planned {
    /// The management-information rows, in table and partner order.
    pub fn rows(&self, refused: bool) -> Vec<RunRow> {
        self.tallies
            .iter()
            .map(|((t, p), tally)| RunRow {
                table: t.name().to_string(),
                partner: p.clone(),
                tally: if refused { tally.refused() } else { tally.clone() },
                verified: false,
                earliest_erased_ingested_at: if refused { None } else { self.earliest.get(&(*t, p.clone())).copied() },
            })
            .collect()
    }

    /// Tables with at least one marker.
    pub fn tables(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.markers.iter().map(|m| m.table.name()).collect();
        set.into_iter().map(str::to_string).collect()
    }
}

/// Events a withdrawal names: event -> (received date, withdrawal index).
type Withdrawn = HashMap<Table, HashMap<EventId, (NaiveDate, usize)>>;

fn refusal(f: &Found, sha: String, issues: Vec<Issue>) -> Withdrawal {
    let mut receipt = WithdrawalReceipt::new(f, sha, "rejected");
    receipt.issues = issues;
    Withdrawal { found: f.clone(), receipt }
}

/// Checks and matches every withdrawal file in the landing folder.
async fn withdrawals(lake: &Lake, root: &Path, limits: &Limits, planned: &mut Planned) -> Result<Withdrawn, RetentionError> {
    let mut withdrawn: Withdrawn = HashMap::new();
    for f in withdrawals::scan_landing(root) {
        if let Some(p) = &f.problem {
            planned.refused.push(refusal(
                &f,
                String::new(),
                vec![Issue { line: 0, column: 0, column_name: String::new(), reason: p.clone() }],
            ));
            continue;
        }
        let source = match Source::of_partner(&f.partner) {
            Ok(s) => s,
            Err(e) => {
                planned.refused.push(refusal(&f, String::new(), vec![Issue { line: 0, column: 0, column_name: String::new(), reason: e }]));
                continue;
            }
        };
        let (req, sha) = match withdrawals::read(&f.path, limits) {
            Ok(r) => r,
            Err(issues) => {
                let sha = withdrawals::sha256_of(&f.path).unwrap_or_default();
                planned.refused.push(refusal(&f, sha, issues));
                continue;
            }
        };
        // Only the partner's own extracts.
        let own = facts::partner_extracts(lake, &f.partner).await?;
        let foreign: Vec<Issue> = req
            .extracts
            .iter()
            .filter(|(_, s)| !own.contains(s))
            .map(|(line, _)| Issue {
                line: *line,
                column: 1,
                column_name: "extract_sha256".into(),
                reason: "not an extract your organisation sent (the lake has no receipt for it from you)".into(),
            })
            .collect();
        if !foreign.is_empty() {
            planned.refused.push(refusal(&f, sha, foreign));
            continue;
        }
        let idx = planned.withdrawals.len();
        let mut receipt = WithdrawalReceipt::new(&f, sha, "planned");
        receipt.record_ids_listed = req.record_ids.len() as u64;
        receipt.extracts_listed = req.extracts.len() as u64;
        let ids: HashSet<String> = req.record_ids.iter().map(|(_, v)| v.clone()).collect();
        let exts: HashSet<String> = req.extracts.iter().map(|(_, v)| v.clone()).collect();
        let (mut found_ids, mut found_exts) = (HashSet::new(), HashSet::new());
        let mut records = HashSet::new();
        let received = f.received_at.date_naive();
        for t in Table::ALL.iter().filter(|t| t.source() == source) {
            for (record_id, event, extract, _) in facts::partner_events(lake, *t, &f.partner, &ids, &exts).await? {
                if ids.contains(&record_id) {
                    found_ids.insert(record_id.clone());
                }
                if exts.contains(&extract) {
                    found_exts.insert(extract.clone());
                }
                records.insert((*t, record_id));
                withdrawn.entry(*t).or_default().insert(event, (received, idx));
            }
        }
        let missing: BTreeSet<u64> = req
            .record_ids
            .iter()
            .filter(|(_, v)| !found_ids.contains(v))
            .chain(req.extracts.iter().filter(|(_, v)| !found_exts.contains(v)))
            .map(|(line, _)| *line)
            .collect();
        receipt.set_not_found(&missing);
        receipt.records_found = records.len() as u64;
        planned.withdrawals.push(Withdrawal { found: f, receipt });
    }
    Ok(withdrawn)
}

/// Plans a run on `as_of`. `landing`: the folder to read withdrawals from.
pub async fn plan(
    lake: &Lake,
    policy: &Policy,
    as_of: NaiveDate,
    landing: Option<&Path>,
    limits: &Limits,
) -> Result<Planned, RetentionError> {
    let mut planned = Planned::default();
    // Events an unfinished run already hid: not planned twice.
    let mut pending: HashMap<Table, HashSet<EventId>> = HashMap::new();
    for t in Table::ALL {
        let Some(table) = lake.open(t.name()).await? else { continue };
        let (marked, deleted) = markers::seqs(&table, t.name()).await?;
        if marked > deleted {
            let ids: HashSet<EventId> = markers::ids(lake, t.name(), deleted, Some(marked)).await?.into_iter().collect();
            planned.pending.insert(t.name().to_string(), ids.len());
            pending.insert(*t, ids);
        }
    }
    let withdrawn = match landing {
        Some(root) => withdrawals(lake, root, limits, &mut planned).await?,
        None => HashMap::new(),
    };
    let mut people: HashMap<Table, PersonDates> = HashMap::new();
    for t in policy.extending_tables() {
        people.insert(t, facts::person_dates(lake, &[t]).await?);
    }
    let empty_pending = HashSet::new();
    let empty_withdrawn = HashMap::new();
    for t in Table::ALL {
        let every_forever = policy.tables[t].keep.after(as_of).is_none()
            && !policy.overrides.iter().any(|((_, ot), r)| ot == t && r.keep.after(as_of).is_some());
        let w = withdrawn.get(t).unwrap_or(&empty_withdrawn);
        if every_forever && w.is_empty() {
            continue;
        }
        let mut held_withdrawn: Vec<usize> = Vec::new();
        let grace = policy.grace_days;
        let Planned { tallies, earliest, markers, extracts, records, .. } = &mut planned;
        let mut f = |r: &facts::Record<'_>| {
            let rule = policy.rule(*t, r.partner);
            let person_last = r.subject.and_then(|s| rule.extended_by.iter().filter_map(|x| people.get(x).and_then(|p| p.get(s))).max());
            let rf =
                RecordFacts { partner: r.partner, record_id: r.record_id, subject: r.subject, occurred: r.occurred, recorded: r.recorded };
            let decision = policy.decide(*t, &rf, person_last, as_of);
            let tally = tallies.entry((*t, r.partner.to_string())).or_insert_with(Tally::default);
            let wd: Vec<(EventId, NaiveDate, usize)> = r.events.iter().filter_map(|e| w.get(e).map(|(d, i)| (*e, *d, *i))).collect();
            let mut erase = |reason: Reason, due: NaiveDate, events: &mut dyn Iterator<Item = EventId>, tally: &mut Tally| {
                for e in events {
                    markers.push(Marker { table: *t, partner: r.partner.to_string(), event_id: e, reason, due });
                    tally.events_erased += 1;
                }
                extracts.extend(r.extracts.iter().cloned());
                records.insert(super::files::record_key(r.partner, r.record_id));
                if let Some(at) = r.first_ingested {
                    let e = earliest.entry((*t, r.partner.to_string())).or_insert(at);
                    *e = (*e).min(at);
                }
            };
            if matches!(decision, Decision::Held { .. }) {
                held_withdrawn.extend(wd.iter().map(|(_, _, i)| *i));
            }
            if !wd.is_empty() && wd.len() == r.events.len() {
                // Withdrawn whole: counted as a withdrawal, not by its dates.
                tally.records += 1;
                tally.withdrawn += 1;
                erase(Reason::Withdrawn, wd[0].1, &mut wd.iter().map(|(e, _, _)| *e), tally);
                return;
            }
            tally.count(&decision, as_of, grace, true);
            if let Decision::Due { due, .. } = decision {
                erase(Reason::Expired, due, &mut r.events.iter().copied(), tally);
            } else if !wd.is_empty() {
                // Some versions withdrawn (an extract): those go, the rest stays.
                tally.withdrawn += 1;
                erase(Reason::Withdrawn, wd[0].1, &mut wd.iter().map(|(e, _, _)| *e), tally);
            }
        };
        facts::for_each_record(lake, *t, pending.get(t).unwrap_or(&empty_pending), None, &mut f).await?;
        for i in held_withdrawn {
            if let Some(w) = planned.withdrawals.get_mut(i) {
                w.receipt.records_under_hold += 1;
            }
        }
    }
    for w in &mut planned.withdrawals {
        w.receipt.events_erased = 0;
    }
    let index: HashMap<(Table, EventId), usize> =
        withdrawn.iter().flat_map(|(t, m)| m.iter().map(move |(e, (_, i))| ((*t, *e), *i))).collect();
    for m in &planned.markers {
        if let Some(i) = index.get(&(m.table, m.event_id)) {
            planned.withdrawals[*i].receipt.events_erased += 1;
        }
    }
    Ok(planned)
}
