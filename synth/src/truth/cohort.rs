//! Y1 and C1: the serious youth violence cohort and its risk factors.

use super::{C1Row, Y1_GROUPS, Y1Row, fy_label};
use crate::City;
use crate::police::fy_bounds;
use crate::services::EduKind;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use vru_model::classification::{Catalogue, Definition, OffenceFacts};
use vru_model::{Role, Sex};

/// One charge of a young person: who, when, what.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Charge {
    person: String,
    date: NaiveDate,
    code: String,
}

pub(super) fn cohort(city: &City, def: &Definition, cat: &Catalogue) -> (Vec<Y1Row>, Vec<C1Row>) {
    let people = &city.people;
    let geo = &city.geo;
    let c = &city.config;
    // Every charge of a 10-17 year old for a serious-violence offence, from
    // both partners, with the age and sex on the record.
    let mut charges: Vec<(Charge, u8, Sex)> = Vec::new();
    for crime in &city.police.crimes {
        let facts = OffenceFacts { code: crime.code, knife: crime.knife, firearm: crime.firearm, domestic: crime.domestic };
        if !geo.is_focus(crime.lsoa) || def.classify(facts).is_none() {
            continue;
        }
        for r in crime.rows.iter().filter(|r| r.role == Role::Charged) {
            let (Some(age), Some(raw)) = (r.age, &r.raw_id) else { continue };
            if (10..=17).contains(&age) {
                charges.push((Charge { person: people.pseudonym(raw), date: crime.committed.date(), code: crime.code.into() }, age, r.sex));
            }
        }
    }
    for y in city.services.yjs.iter().filter(|y| y.outcome == "charge" && (10..=17).contains(&y.age)) {
        if def.classify(OffenceFacts { code: y.code, knife: false, firearm: false, domestic: false }).is_some() {
            let p = &people.youths[y.youth];
            charges.push((Charge { person: people.pseudonym(&p.raw_id), date: y.offence_date, code: y.code.into() }, y.age, p.sex));
        }
    }
    let pseudo_of_youth: Vec<String> = people.youths.iter().map(|p| people.pseudonym(&p.raw_id)).collect();

    let mut y1 = Vec::new();
    let mut c1 = Vec::new();
    for fy in (c.first_fy + 2)..=c.last_fy() {
        let start = fy_bounds(fy - 2).0;
        let end = fy_bounds(fy).1.succ_opt().expect("date");
        let in_window: Vec<&(Charge, u8, Sex)> = charges.iter().filter(|(ch, _, _)| ch.date >= start && ch.date < end).collect();
        let keys: BTreeSet<&Charge> = in_window.iter().map(|(ch, _, _)| ch).collect();
        let mut first: BTreeMap<&str, (NaiveDate, u8)> = BTreeMap::new();
        let mut male: HashSet<&str> = HashSet::new();
        for (ch, age, sex) in &in_window {
            let e = first.entry(ch.person.as_str()).or_insert((ch.date, *age));
            if (ch.date, *age) < *e {
                *e = (ch.date, *age);
            }
            if *sex == Sex::Male {
                male.insert(&ch.person);
            }
        }
        let mut by_group: BTreeMap<String, u64> = Y1_GROUPS.iter().map(|g| (g.to_string(), 0)).chain([("other".to_string(), 0)]).collect();
        for k in &keys {
            let g = cat.get(&k.code).map(|o| o.group.as_str()).filter(|g| Y1_GROUPS.contains(g)).unwrap_or("other");
            *by_group.entry(g.to_string()).or_default() += 1;
        }
        let n = first.len() as u64;
        let mean_age = if n == 0 { 0.0 } else { first.values().map(|(_, a)| f64::from(*a)).sum::<f64>() / n as f64 };
        y1.push(Y1Row {
            period: fy_label(fy),
            people: n,
            offences: keys.len() as u64,
            male: male.len() as u64,
            mean_age_first_charge: mean_age,
            offences_by_group: by_group,
        });

        // C1: the cohort against everyone else in the school census.
        let cohort: HashSet<&str> = first.keys().copied().collect();
        let comparison: HashSet<&str> = city
            .services
            .education
            .iter()
            .filter(|e| e.kind == EduKind::Census && e.date >= start && e.date < end && (10..=17).contains(&e.age))
            .map(|e| pseudo_of_youth[e.youth].as_str())
            .filter(|p| !cohort.contains(p))
            .collect();
        let mut has: HashMap<&str, HashSet<&str>> = HashMap::new();
        for e in city.services.education.iter().filter(|e| e.date < end) {
            let factor = match e.kind {
                EduKind::Suspension => "suspension",
                EduKind::Exclusion => "permanent_exclusion",
                EduKind::Ap => "alternative_provision",
                EduKind::Neet if e.neet == Some(true) => "neet",
                _ => continue,
            };
            has.entry(factor).or_default().insert(pseudo_of_youth[e.youth].as_str());
        }
        let mut screened: HashMap<&str, usize> = HashMap::new();
        for a in city.services.ace.iter().filter(|a| a.date < end) {
            let present = a.indicators.iter().filter(|(_, v)| *v == Some(true)).count();
            let e = screened.entry(pseudo_of_youth[a.youth].as_str()).or_default();
            *e = (*e).max(present);
        }
        let ace6: HashSet<&str> = screened.iter().filter(|(_, n)| **n >= 6).map(|(p, _)| *p).collect();
        let screened_set: HashSet<&str> = screened.keys().copied().collect();
        has.insert("ace_6_plus", ace6);
        for factor in ["suspension", "permanent_exclusion", "alternative_provision", "neet", "ace_6_plus"] {
            let with = has.get(factor).cloned().unwrap_or_default();
            let (cd, pd) = if factor == "ace_6_plus" {
                (cohort.intersection(&screened_set).count(), comparison.intersection(&screened_set).count())
            } else {
                (cohort.len(), comparison.len())
            };
            c1.push(C1Row {
                period: fy_label(fy),
                factor: factor.into(),
                cohort_n: cohort.intersection(&with).count() as u64,
                cohort_denominator: cd as u64,
                comparison_n: comparison.intersection(&with).count() as u64,
                comparison_denominator: pd as u64,
            });
        }
    }
    (y1, c1)
}
