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

mod ambulance;
mod cohort;
mod places;
mod services;

pub use ambulance::D2Row;
pub use places::{D1Row, D1Spearman, H3Row, H4Row, H5Row, V1Row, V2Row, spearman};
pub use services::{A1Row, FileStats, K1Row, P1Row, Q1Row};

use crate::City;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use vru_model::classification::{Catalogue, Definition, OffenceFacts};

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
    pub h3: Vec<H3Row>,
    pub h4: Vec<H4Row>,
    pub h5: Vec<H5Row>,
    pub v1: Vec<V1Row>,
    pub v2: Vec<V2Row>,
    pub d1: Vec<D1Row>,
    pub d1_spearman: Vec<D1Spearman>,
    /// Absent from truth files written before the ambulance source.
    #[serde(default)]
    pub d2: Vec<D2Row>,
    pub a1: Vec<A1Row>,
    pub p1: Vec<P1Row>,
    pub k1: Vec<K1Row>,
    pub q1: Vec<Q1Row>,
}

/// The areas measures report on and their populations.
pub(crate) struct Areas<'a> {
    geo: &'a crate::geography::Geography,
    pub focus_las: Vec<String>,
}

impl<'a> Areas<'a> {
    fn new(geo: &'a crate::geography::Geography) -> Self {
        Areas { geo, focus_las: geo.focus_las().iter().map(|l| l.code.clone()).collect() }
    }

    /// 'focus' then every local authority, as the SQL `areas` view.
    pub fn codes(&self) -> Vec<String> {
        std::iter::once(FOCUS.to_string()).chain(self.geo.las.iter().map(|l| l.code.clone())).collect()
    }

    /// The areas an event in this LSOA counts in.
    pub fn of_lsoa(&self, lsoa: usize) -> Vec<String> {
        let la = self.geo.las[self.geo.lsoas[lsoa].la].code.clone();
        if self.geo.is_focus(lsoa) { vec![FOCUS.to_string(), la] } else { vec![la] }
    }

    pub fn population(&self, area: &str, year: i32, ages: std::ops::RangeInclusive<usize>) -> u64 {
        let geo = self.geo;
        (0..geo.lsoas.len())
            .filter(|i| if area == FOCUS { geo.is_focus(*i) } else { geo.las[geo.lsoas[*i].la].code == area })
            .map(|i| {
                (0..=crate::geography::MAX_AGE).filter(|a| ages.contains(a)).map(|a| u64::from(geo.population(i, a, year))).sum::<u64>()
            })
            .sum()
    }
}

/// The p-th percentile of sorted values, interpolating linearly between
/// neighbours (as SQL `percentile_cont`).
pub fn percentile_cont(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let pos = p * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

pub fn fy_label(fy: i32) -> String {
    format!("{}/{:02}", fy, (fy + 1) % 100)
}

pub(crate) fn fy_of(d: NaiveDate) -> i32 {
    if d.month() >= 4 { d.year() } else { d.year() - 1 }
}

/// Groups reported by Y1; every other group is "other".
pub const Y1_GROUPS: &[&str] = &["robbery", "violence_against_the_person", "drug_offences"];

impl Truth {
    /// `files` are the extracts as written (for the data-quality measure).
    pub fn compute(city: &City, files: &[FileStats]) -> Truth {
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
        let pop = |lsoas: &[usize], year: i32| -> u64 { lsoas.iter().map(|i| geo.residents(*i, year)).sum() };

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
        let (y1, c1) = cohort::cohort(city, &def, &cat);
        let areas_ref = Areas::new(geo);
        let places = places::compute(city, &def, &areas_ref);
        Truth {
            definition: def.name.clone(),
            definition_version: def.version.clone(),
            focus_area: geo.focus_las().iter().map(|l| l.code.clone()).collect(),
            h1,
            h2,
            y1,
            c1,
            h3: places.h3,
            h4: places.h4,
            h5: places.h5,
            v1: places.v1,
            v2: places.v2,
            d1: places.d1,
            d1_spearman: places.d1_spearman,
            d2: ambulance::d2(city),
            a1: services::a1(city),
            p1: services::p1(city, &areas_ref),
            k1: services::k1(city),
            q1: services::q1(files),
        }
    }
}
