//! Which records are due when, and the management information a run
//! produces: pure arithmetic on dates the caller gathered, so every case
//! (on time, late, held, extended by a later event, a hold ending) is
//! tested here without a lake.
//!
//! A record is one partner's record id with all its versions; it is kept
//! or deleted whole, from the dates of its latest version, so deleting
//! never brings an older version back into the current state.

use super::policy::{Basis, Policy};
use crate::tables::Table;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the planner knows of one record (its latest version).
#[derive(Debug, Clone, Copy)]
pub struct RecordFacts<'a> {
    pub partner: &'a str,
    pub record_id: &'a str,
    pub subject: Option<&'a str>,
    pub occurred: NaiveDate,
    pub recorded: Option<NaiveDate>,
}

/// What the policy says about one record on `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The table keeps records forever.
    Forever,
    /// Not due yet. `extended`: by its own date it would be due, but a
    /// later event about the same person keeps it.
    Keep { due: NaiveDate, extended: bool },
    /// Due, but a hold suspends deletion until `until` (inclusive).
    Held { due: NaiveDate, until: NaiveDate },
    /// Due: delete. `due` is when it became deletable (after any hold that
    /// has ended); `days_late` counts from then.
    Due { due: NaiveDate, days_late: i64 },
}

impl Policy {
    /// The policy's answer for one record of `table` on `as_of`.
    /// `person_last`: the latest event date of the record's subject in the
    /// rule's `extended_by` tables (the caller gathers it).
    pub fn decide(&self, table: Table, r: &RecordFacts<'_>, person_last: Option<NaiveDate>, as_of: NaiveDate) -> Decision {
        let rule = self.rule(table, r.partner);
        let own = match rule.from {
            Basis::Recorded => r.recorded.unwrap_or(r.occurred),
            Basis::Event | Basis::PersonLastEvent => r.occurred,
        };
        let basis = match (rule.from, person_last) {
            (Basis::PersonLastEvent, Some(p)) if p > own => p,
            _ => own,
        };
        let (Some(due), Some(own_due)) = (rule.keep.after(basis), rule.keep.after(own)) else { return Decision::Forever };
        if due > as_of {
            return Decision::Keep { due, extended: own_due <= as_of };
        }
        // Holds: an active one suspends deletion; one that has ended moves
        // the date deletion became due to the day after it ended, so a
        // record kept lawfully under a hold is not counted late.
        let mut effective = due;
        let mut active: Option<NaiveDate> = None;
        for h in self.holds_for(r.partner, r.record_id, r.subject) {
            if h.until >= as_of {
                active = Some(active.map_or(h.until, |a| a.max(h.until)));
            } else if let Some(next) = h.until.succ_opt() {
                effective = effective.max(next);
            }
        }
        match active {
            Some(until) => Decision::Held { due, until },
            None => Decision::Due { due: effective, days_late: (as_of - effective).num_days() },
        }
    }
}

/// Counts for one table and partner in one run. Never an id: this is what
/// `retention_runs` holds and R1 reads.
///
/// Of the records `due` (past their date on the run's day):
/// `due = deleted_on_time + deleted_late + held + held_past_date`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Records in the table for this partner when the run planned.
    pub records: u64,
    pub due: u64,
    pub deleted_on_time: u64,
    pub deleted_late: u64,
    /// Over the late deletions: total and longest delay past the grace.
    pub days_late_total: u64,
    pub days_late_max: u64,
    /// Due, kept by an active hold (lawful, with a reason).
    pub held: u64,
    /// Due, neither deleted nor held: the deletion deficit. Must be 0.
    pub held_past_date: u64,
    /// Not due only because a later event about the person extended them.
    pub extended: u64,
    /// Falling due within 30 and 90 days after the run's day (90 includes 30).
    pub due_30: u64,
    pub due_90: u64,
    /// Records erased at the partner's request (not otherwise due).
    pub withdrawn: u64,
    /// Event versions made non-searchable and then deleted.
    pub events_erased: u64,
}

impl Tally {
    /// Counts one record. `erased`: the run deletes it (apply, not refused).
    pub fn count(&mut self, d: &Decision, as_of: NaiveDate, grace_days: u32, erased: bool) {
        self.records += 1;
        match *d {
            Decision::Forever => {}
            Decision::Keep { due, extended } => {
                let days = (due - as_of).num_days();
                self.due_30 += u64::from(days <= 30);
                self.due_90 += u64::from(days <= 90);
                self.extended += u64::from(extended);
            }
            Decision::Held { until, .. } => {
                self.due += 1;
                self.held += 1;
                // Deletable the day after the hold ends.
                let days = (until - as_of).num_days() + 1;
                self.due_30 += u64::from(days <= 30);
                self.due_90 += u64::from(days <= 90);
            }
            Decision::Due { days_late, .. } => {
                self.due += 1;
                if !erased {
                    self.held_past_date += 1;
                } else if days_late <= i64::from(grace_days) {
                    self.deleted_on_time += 1;
                } else {
                    let late = (days_late - i64::from(grace_days)) as u64;
                    self.deleted_late += 1;
                    self.days_late_total += late;
                    self.days_late_max = self.days_late_max.max(late);
                }
            }
        }
    }

    pub fn add(&mut self, o: &Tally) {
        self.records += o.records;
        self.due += o.due;
        self.deleted_on_time += o.deleted_on_time;
        self.deleted_late += o.deleted_late;
        self.days_late_total += o.days_late_total;
        self.days_late_max = self.days_late_max.max(o.days_late_max);
        self.held += o.held;
        self.held_past_date += o.held_past_date;
        self.extended += o.extended;
        self.due_30 += o.due_30;
        self.due_90 += o.due_90;
        self.withdrawn += o.withdrawn;
        self.events_erased += o.events_erased;
    }

    /// Records this run erases.
    pub fn erased(&self) -> u64 {
        self.deleted_on_time + self.deleted_late + self.withdrawn
    }

    /// The same counts for a run that was refused (over the share limit
    /// without `--confirm`): nothing erased, everything due is a deficit.
    pub fn refused(&self) -> Tally {
        Tally {
            held_past_date: self.held_past_date + self.deleted_on_time + self.deleted_late,
            deleted_on_time: 0,
            deleted_late: 0,
            days_late_total: 0,
            days_late_max: 0,
            withdrawn: 0,
            events_erased: 0,
            ..self.clone()
        }
    }
}

/// Tallies by table and partner.
pub type Tallies = BTreeMap<(Table, String), Tally>;

/// A table over the share one run may delete without `--confirm`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverShare {
    pub table: &'static str,
    pub erased: u64,
    pub records: u64,
}

/// Tables where the run would erase more than `max_share` of the records:
/// a policy typo ("6 days" for "6 years") or a mistaken withdrawal empties
/// a table in one night otherwise.
pub fn over_share(tallies: &Tallies, max_share: f64) -> Vec<OverShare> {
    let mut per: BTreeMap<Table, (u64, u64)> = BTreeMap::new();
    for ((t, _), tally) in tallies {
        let e = per.entry(*t).or_default();
        e.0 += tally.erased();
        e.1 += tally.records;
    }
    per.into_iter()
        .filter(|(_, (erased, records))| *erased > 0 && (*erased as f64) > max_share * (*records as f64))
        .map(|(t, (erased, records))| OverShare { table: t.name(), erased, records })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const P: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn policy() -> Policy {
        let text = format!(
            "{}\n[[hold]]\npseudonym = \"{P}\"\nuntil = 2026-06-30\nreason = \"case review\"\n\n\
             [[hold]]\npartner = \"police-n\"\nrecord_id = \"held-open\"\nuntil = 2027-01-31\nreason = \"complaint\"\n\n\
             [[override]]\npartner = \"police-r\"\ntable = \"police_asb\"\nfrom = \"recorded\"\nreason = \"ISA: from recording\"\n",
            Policy::builtin_text("default").unwrap()
        );
        Policy::from_toml(&text, "t.toml").unwrap()
    }

    fn rec<'a>(record_id: &'a str, subject: Option<&'a str>, occurred: &str) -> RecordFacts<'a> {
        RecordFacts { partner: "police-n", record_id, subject, occurred: d(occurred), recorded: None }
    }

    #[test]
    fn on_time_late_and_not_yet() {
        let p = policy();
        let as_of = d("2026-11-25");
        // Six years from the event: due 2026-11-25 (today) and 2026-11-20.
        let today = p.decide(Table::PoliceAsb, &rec("a", None, "2020-11-25"), None, as_of);
        assert_eq!(today, Decision::Due { due: d("2026-11-25"), days_late: 0 });
        let late = p.decide(Table::PoliceAsb, &rec("b", None, "2020-11-20"), None, as_of);
        assert_eq!(late, Decision::Due { due: d("2026-11-20"), days_late: 5 });
        let tomorrow = p.decide(Table::PoliceAsb, &rec("c", None, "2020-11-26"), None, as_of);
        assert_eq!(tomorrow, Decision::Keep { due: d("2026-11-26"), extended: false });
        let mut t = Tally::default();
        for x in [today, late, tomorrow] {
            t.count(&x, as_of, p.grace_days, true);
        }
        // Grace is one day: 5 days late is 4 days past it.
        assert_eq!(
            t,
            Tally {
                records: 3,
                due: 2,
                deleted_on_time: 1,
                deleted_late: 1,
                days_late_total: 4,
                days_late_max: 4,
                due_30: 1,
                due_90: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn a_later_event_about_the_person_extends_retention() {
        let p = policy();
        let as_of = d("2026-11-25");
        let person = "2222222222222222222222222222222222222222222222222222222222222222";
        let old = rec("old", Some(person), "2019-05-01");
        // Their last event (in any extending table) was 2021-03-01.
        let x = p.decide(Table::PoliceOffences, &old, Some(d("2021-03-01")), as_of);
        assert_eq!(x, Decision::Keep { due: d("2027-03-01"), extended: true });
        // An earlier "last event" never shortens: the record's own date wins.
        assert_eq!(
            p.decide(Table::PoliceOffences, &old, Some(d("2018-01-01")), as_of),
            Decision::Due { due: d("2025-05-01"), days_late: 573 }
        );
        // Event-based tables ignore the person.
        assert_eq!(
            p.decide(Table::AeAttendances, &old, Some(d("2021-03-01")), as_of),
            Decision::Due { due: d("2025-05-01"), days_late: 573 }
        );
        let mut t = Tally::default();
        t.count(&x, as_of, 1, true);
        assert_eq!((t.extended, t.due, t.due_90), (1, 0, 0));
    }

    #[test]
    fn holds_suspend_and_a_hold_ending_is_not_lateness() {
        let p = policy();
        let held = rec("h", Some(P), "2019-01-10"); // due 2025-01-10
        // While the hold runs (to 2026-06-30): held, due again the day after.
        let during = p.decide(Table::PoliceOffences, &held, None, d("2026-06-10"));
        assert_eq!(during, Decision::Held { due: d("2025-01-10"), until: d("2026-06-30") });
        let mut t = Tally::default();
        t.count(&during, d("2026-06-10"), 1, true);
        assert_eq!((t.due, t.held, t.held_past_date, t.due_30, t.deleted_on_time), (1, 1, 0, 1, 0));
        // The day after it ends: due, and on time.
        let after = p.decide(Table::PoliceOffences, &held, None, d("2026-07-01"));
        assert_eq!(after, Decision::Due { due: d("2026-07-01"), days_late: 0 });
        // Ten days after it ended: late by nine (one day's grace), not by 18 months.
        let later = p.decide(Table::PoliceOffences, &held, None, d("2026-07-11"));
        let mut t = Tally::default();
        t.count(&later, d("2026-07-11"), 1, true);
        assert_eq!((t.deleted_late, t.days_late_max), (1, 9));
        // A hold by record id.
        let r = rec("held-open", None, "2010-01-01");
        assert!(matches!(p.decide(Table::PoliceAsb, &r, None, d("2026-11-25")), Decision::Held { .. }));
    }

    #[test]
    fn a_refused_run_leaves_a_deficit_and_the_identity_holds() {
        let p = policy();
        let as_of = d("2026-11-25");
        let mut t = Tally::default();
        for (id, subject, date) in [("1", None, "2019-01-01"), ("2", Some(P), "2019-01-01"), ("3", None, "2026-01-01")] {
            let x = p.decide(Table::PoliceOffences, &rec(id, subject, date), None, as_of);
            t.count(&x, as_of, p.grace_days, false);
        }
        // The P hold ended in June: both old records are due, neither held.
        assert_eq!((t.due, t.held_past_date, t.held), (2, 2, 0), "{t:?}");
        assert_eq!(t.due, t.deleted_on_time + t.deleted_late + t.held + t.held_past_date);
        assert_eq!(t.erased(), 0);
        // Counted as applied, then refused: the same.
        let mut applied = Tally::default();
        for (id, subject, date) in [("1", None, "2019-01-01"), ("2", Some(P), "2019-01-01"), ("3", None, "2026-01-01")] {
            let x = p.decide(Table::PoliceOffences, &rec(id, subject, date), None, as_of);
            applied.count(&x, as_of, p.grace_days, true);
        }
        assert_eq!(applied.refused(), t);
    }

    #[test]
    fn forever_tables_and_recorded_dates() {
        let p = policy();
        assert_eq!(p.decide(Table::Commitments, &rec("k", None, "1990-01-01"), None, d("2026-11-25")), Decision::Forever);
        let mut r = rec("x", None, "2019-01-01");
        r.recorded = Some(d("2024-01-01"));
        // police-n counts from the event date; police-r's agreement says recorded.
        assert!(matches!(p.decide(Table::PoliceAsb, &r, None, d("2026-11-25")), Decision::Due { .. }));
        r.partner = "police-r";
        assert_eq!(p.decide(Table::PoliceAsb, &r, None, d("2026-11-25")), Decision::Keep { due: d("2030-01-01"), extended: false });
        r.recorded = None;
        assert!(matches!(p.decide(Table::PoliceAsb, &r, None, d("2026-11-25")), Decision::Due { .. }), "no recorded date: the event date");
    }

    #[test]
    fn share_limit() {
        let mut tallies = Tallies::new();
        tallies.insert((Table::PoliceAsb, "a".into()), Tally { records: 100, deleted_on_time: 4, ..Default::default() });
        tallies.insert((Table::PoliceAsb, "b".into()), Tally { records: 100, withdrawn: 7, ..Default::default() });
        tallies.insert((Table::AeAttendances, "c".into()), Tally { records: 10, deleted_late: 1, ..Default::default() });
        assert_eq!(
            over_share(&tallies, 0.05),
            vec![
                OverShare { table: "police_asb", erased: 11, records: 200 },
                OverShare { table: "ae_attendances", erased: 1, records: 10 }
            ]
        );
        assert!(over_share(&tallies, 0.2).is_empty());
    }
}
