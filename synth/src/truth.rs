//! The planted values of the measures, computed from the generator's own
//! records by a route that shares nothing with the SQL but the definition
//! file: if the pipeline loses, duplicates or misclassifies an event, the
//! two disagree.
//!
//! The rules mirror the measure definitions in `queries/sql/`:
//! offences are counted once per crime in its final (latest-version) form,
//! areas are where the offence happened, rates use the nearest mid-year
//! population, and the youth cohort links police charges and youth justice
//! charges by person, offence date and offence code.

use crate::City;
use crate::police::fy_bounds;
use crate::services::EduKind;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use vru_model::classification::{Catalogue, Definition, OffenceFacts};
use vru_model::{Role, Sex};

/// The area key of the focus-area total in H1 and H2.
pub const FOCUS: &str = "focus";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct H1Row {
    pub period: String,
    pub area_code: String,
    pub category: String,
    pub offences: u64,
    pub population: u64,
    pub population_year: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct H2Row {
    pub period: String,
    pub area_code: String,
    pub homicides: u64,
    pub population: u64,
    /// Homicides and summed populations over this and the two previous
    /// years; absent when the data do not cover all three.
    pub homicides_3y: Option<u64>,
    pub population_3y: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Y1Row {
    pub period: String,
    pub people: u64,
    pub offences: u64,
    pub male: u64,
    pub mean_age_first_charge: f64,
    pub offences_by_group: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct C1Row {
    pub period: String,
    pub factor: String,
    pub cohort_n: u64,
    pub cohort_denominator: u64,
    pub comparison_n: u64,
    pub comparison_denominator: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub definition: String,
    pub definition_version: String,
    pub focus_area: Vec<String>,
    pub h1: Vec<H1Row>,
    pub h2: Vec<H2Row>,
    pub y1: Vec<Y1Row>,
    pub c1: Vec<C1Row>,
}

pub fn fy_label(fy: i32) -> String {
    format!("{}/{:02}", fy, (fy + 1) % 100)
}

fn fy_of(d: NaiveDate) -> i32 {
    if d.month() >= 4 { d.year() } else { d.year() - 1 }
}

/// Groups reported by Y1; every other group is "other".
pub const Y1_GROUPS: &[&str] = &["robbery", "violence_against_the_person", "drug_offences"];

impl Truth {
    pub fn compute(city: &City) -> Truth {
        let def = Definition::builtin("local").expect("built-in definition");
        let cat = Catalogue::builtin();
        let geo = &city.geo;
        let c = &city.config;
        let area_of = |lsoa: usize| geo.las[geo.lsoas[lsoa].la].code.clone();
        let areas: Vec<(String, Vec<usize>)> =
            std::iter::once((FOCUS.to_string(), (0..geo.lsoas.len()).filter(|i| geo.is_focus(*i)).collect()))
                .chain(
                    geo.las
                        .iter()
                        .enumerate()
                        .map(|(li, la)| (la.code.clone(), (0..geo.lsoas.len()).filter(|i| geo.lsoas[*i].la == li).collect())),
                )
                .collect();
        let pop = |lsoas: &[usize], year: i32| -> u64 {
            lsoas.iter().map(|i| (0..=crate::geography::MAX_AGE).map(|a| u64::from(geo.population(*i, a, year))).sum::<u64>()).sum()
        };

        // Offence counts by (fy, area, category).
        let mut counts: HashMap<(i32, String, String), u64> = HashMap::new();
        for crime in &city.police.crimes {
            let facts = OffenceFacts { code: crime.code, knife: crime.knife, firearm: crime.firearm, domestic: crime.domestic };
            let Some(category) = def.classify(facts) else { continue };
            let fy = fy_of(crime.committed.date());
            let la = area_of(crime.lsoa);
            let keys = if geo.is_focus(crime.lsoa) { vec![FOCUS.to_string(), la] } else { vec![la] };
            for area in keys {
                *counts.entry((fy, area.clone(), category.id.clone())).or_default() += 1;
                *counts.entry((fy, area, "total".into())).or_default() += 1;
            }
        }
        for a in &city.police.asb {
            let fy = fy_of(a.at.date());
            let la = area_of(a.lsoa);
            let keys = if geo.is_focus(a.lsoa) { vec![FOCUS.to_string(), la] } else { vec![la] };
            for area in keys {
                *counts.entry((fy, area, "asb".into())).or_default() += 1;
            }
        }
        let mut categories: Vec<String> = def.categories.iter().map(|c| c.id.clone()).collect();
        categories.push("total".into());
        categories.push("asb".into());
        let mut h1 = Vec::new();
        let mut h2 = Vec::new();
        for fy in c.first_fy..=c.last_fy() {
            let year = geo.pop_year_for(fy);
            for (area, lsoas) in &areas {
                let population = pop(lsoas, year);
                for cat_id in &categories {
                    let offences = counts.get(&(fy, area.clone(), cat_id.clone())).copied().unwrap_or(0);
                    h1.push(H1Row {
                        period: fy_label(fy),
                        area_code: area.clone(),
                        category: cat_id.clone(),
                        offences,
                        population,
                        population_year: year,
                    });
                }
                let hom = |y: i32| counts.get(&(y, area.clone(), "homicide".into())).copied().unwrap_or(0);
                let full = fy - 2 >= c.first_fy;
                h2.push(H2Row {
                    period: fy_label(fy),
                    area_code: area.clone(),
                    homicides: hom(fy),
                    population,
                    homicides_3y: full.then(|| (fy - 2..=fy).map(hom).sum()),
                    population_3y: full.then(|| (fy - 2..=fy).map(|y| pop(lsoas, geo.pop_year_for(y))).sum()),
                });
            }
        }
        let (y1, c1) = cohort(city, &def, &cat);
        Truth {
            definition: def.name.clone(),
            definition_version: def.version.clone(),
            focus_area: geo.focus_las().iter().map(|l| l.code.clone()).collect(),
            h1,
            h2,
            y1,
            c1,
        }
    }
}

/// One charge of a young person: who, when, what.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Charge {
    person: String,
    date: NaiveDate,
    code: String,
}

fn cohort(city: &City, def: &Definition, cat: &Catalogue) -> (Vec<Y1Row>, Vec<C1Row>) {
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
