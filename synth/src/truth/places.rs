//! H3, H4, H5, V1, V2, D1: knives, A&E sharp-object assaults, the focus
//! area's share, victims' ages and homes, and deprivation.

use super::{Areas, fy_label, fy_of, percentile_cont};
use crate::City;
use crate::police::Home;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use vru_model::Role;
use vru_model::classification::{Definition, OffenceFacts};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct H3Row {
    pub period: String,
    pub area_code: String,
    pub knife_offences: u64,
    pub knife_offences_victim_under_25: u64,
    pub population: u64,
    pub population_under_25: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct H4Row {
    pub period: String,
    pub area_code: String,
    pub attendances: u64,
    pub attendances_under_25: u64,
    /// Only on the focus row: every sharp-object attendance, wherever the patient lives.
    pub attendances_all_residences: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct H5Row {
    pub period: String,
    pub offence_group: String,
    pub focus_offences: u64,
    pub region_offences: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V1Row {
    pub period: String,
    pub offence_group: String,
    pub age_band: String,
    pub victims: u64,
    pub median_age: Option<f64>,
    pub lower_quartile: Option<f64>,
    pub upper_quartile: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V2Row {
    pub period: String,
    pub area_group: String,
    pub victims_home_known: u64,
    pub victims_from_outside: u64,
    pub victims_home_unknown: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct D1Row {
    pub period: String,
    pub imd_decile: u8,
    pub lsoas: u64,
    pub offences: u64,
    pub population: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct D1Spearman {
    pub period: String,
    pub lsoas: u64,
    pub spearman_rho: Option<f64>,
}

pub(super) struct Places {
    pub h3: Vec<H3Row>,
    pub h4: Vec<H4Row>,
    pub h5: Vec<H5Row>,
    pub v1: Vec<V1Row>,
    pub v2: Vec<V2Row>,
    pub d1: Vec<D1Row>,
    pub d1_spearman: Vec<D1Spearman>,
}

const BANDS: &[(&str, u8, u8)] = &[("0-14", 0, 14), ("15-23", 15, 23), ("24-34", 24, 34), ("35-49", 35, 49), ("50+", 50, 255)];

pub(super) fn compute(city: &City, def: &Definition, areas: &Areas) -> Places {
    let geo = &city.geo;
    let c = &city.config;
    let category = |crime: &crate::police::Crime| {
        def.classify(OffenceFacts { code: crime.code, knife: crime.knife, firearm: crime.firearm, domestic: crime.domestic })
            .map(|c| c.id.as_str())
    };
    let la_of = |lsoa: usize| geo.las[geo.lsoas[lsoa].la].code.clone();
    let home_la = |h: &Home| match h {
        Home::Lsoa(i) => Some(la_of(*i)),
        _ => None,
    };
    let home_focus = |h: &Home| matches!(h, Home::Lsoa(i) if geo.is_focus(*i));

    let mut h3: HashMap<(i32, String), (u64, u64)> = HashMap::new();
    let mut h5: HashMap<(i32, &str), (u64, u64)> = HashMap::new();
    let mut ages: HashMap<(i32, &str), Vec<f64>> = HashMap::new();
    let mut v2: HashMap<(i32, &str), (u64, u64, u64)> = HashMap::new();
    let mut per_lsoa: HashMap<(i32, usize), u64> = HashMap::new();
    for crime in &city.police.crimes {
        let fy = fy_of(crime.committed.date());
        let cat = category(crime);
        let victims: Vec<_> = crime.rows.iter().filter(|r| r.role == Role::Victim).collect();
        if crime.knife {
            let young = victims.iter().any(|v| v.age.is_some_and(|a| a < 25));
            for area in areas.of_lsoa(crime.lsoa) {
                let e = h3.entry((fy, area)).or_default();
                e.0 += 1;
                e.1 += u64::from(young);
            }
        }
        if let Some(cat) = cat {
            if geo.is_focus(crime.lsoa) {
                *per_lsoa.entry((fy, crime.lsoa)).or_default() += 1;
            }
            for (group, member) in [
                ("homicide", cat == "homicide"),
                ("serious_assault", cat == "serious_assault"),
                ("homicide_and_serious_assault", matches!(cat, "homicide" | "serious_assault")),
            ] {
                if member {
                    let e = h5.entry((fy, group)).or_default();
                    e.0 += u64::from(geo.is_focus(crime.lsoa));
                    e.1 += 1;
                }
            }
            let group = match cat {
                "homicide" | "serious_assault" => Some("homicide_and_serious_assault"),
                "personal_robbery" => Some("personal_robbery"),
                _ => None,
            };
            if let Some(g) = group.filter(|_| geo.is_focus(crime.lsoa)) {
                ages.entry((fy, g)).or_default().extend(victims.iter().filter_map(|v| v.age.map(f64::from)));
            }
            if cat == "personal_robbery" {
                let focus = geo.is_focus(crime.lsoa);
                let key = (fy, if focus { "focus_area" } else { "rest_of_region" });
                for v in &victims {
                    let e = v2.entry(key).or_default();
                    if v.home == Home::Unknown {
                        e.2 += 1;
                        continue;
                    }
                    e.0 += 1;
                    let outside = if focus { !home_focus(&v.home) } else { home_la(&v.home).as_deref() != Some(&la_of(crime.lsoa)) };
                    e.1 += u64::from(outside);
                }
            }
        }
    }

    let mut h4: HashMap<(i32, String), (u64, u64)> = HashMap::new();
    let mut h4_all: HashMap<i32, u64> = HashMap::new();
    for a in city.services.ae.iter().filter(|a| a.method == Some("knife_sharp_object")) {
        let fy = fy_of(a.arrival.date());
        *h4_all.entry(fy).or_default() += 1;
        if let Home::Lsoa(i) = a.home {
            for area in areas.of_lsoa(i) {
                let e = h4.entry((fy, area)).or_default();
                e.0 += 1;
                e.1 += u64::from(a.age < 25);
            }
        }
    }

    let mut out = Places { h3: vec![], h4: vec![], h5: vec![], v1: vec![], v2: vec![], d1: vec![], d1_spearman: vec![] };
    for fy in c.first_fy..=c.last_fy() {
        let period = fy_label(fy);
        let year = geo.pop_year_for(fy);
        for area in areas.codes() {
            let (n, young) = h3.get(&(fy, area.clone())).copied().unwrap_or_default();
            out.h3.push(H3Row {
                period: period.clone(),
                area_code: area.clone(),
                knife_offences: n,
                knife_offences_victim_under_25: young,
                population: areas.population(&area, year, 0..=200),
                population_under_25: areas.population(&area, year, 0..=24),
            });
            let (n, young) = h4.get(&(fy, area.clone())).copied().unwrap_or_default();
            let all = (area == super::FOCUS).then(|| h4_all.get(&fy).copied().unwrap_or(0));
            out.h4.push(H4Row {
                period: period.clone(),
                area_code: area,
                attendances: n,
                attendances_under_25: young,
                attendances_all_residences: all,
            });
        }
        for g in ["homicide", "homicide_and_serious_assault", "serious_assault"] {
            let (f, r) = h5.get(&(fy, g)).copied().unwrap_or_default();
            out.h5.push(H5Row { period: period.clone(), offence_group: g.into(), focus_offences: f, region_offences: r });
        }
        for g in ["homicide_and_serious_assault", "personal_robbery"] {
            let Some(mut v) = ages.get(&(fy, g)).cloned() else { continue };
            v.sort_by(f64::total_cmp);
            out.v1.push(V1Row {
                period: period.clone(),
                offence_group: g.into(),
                age_band: "all".into(),
                victims: v.len() as u64,
                median_age: percentile_cont(&v, 0.5),
                lower_quartile: percentile_cont(&v, 0.25),
                upper_quartile: percentile_cont(&v, 0.75),
            });
            for (band, lo, hi) in BANDS {
                let n = v.iter().filter(|a| **a >= f64::from(*lo) && **a <= f64::from(*hi)).count() as u64;
                out.v1.push(V1Row {
                    period: period.clone(),
                    offence_group: g.into(),
                    age_band: band.to_string(),
                    victims: n,
                    median_age: None,
                    lower_quartile: None,
                    upper_quartile: None,
                });
            }
        }
        for g in ["focus_area", "rest_of_region"] {
            let (known, outside, unknown) = v2.get(&(fy, g)).copied().unwrap_or_default();
            out.v2.push(V2Row {
                period: period.clone(),
                area_group: g.into(),
                victims_home_known: known,
                victims_from_outside: outside,
                victims_home_unknown: unknown,
            });
        }
        // D1: every LSOA of the focus area, by IMD decile, and the rank correlation.
        let mut deciles: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
        let mut points = Vec::new();
        for (i, l) in geo.lsoas.iter().enumerate().filter(|(i, _)| geo.is_focus(*i)) {
            let n = per_lsoa.get(&(fy, i)).copied().unwrap_or(0);
            let pop = geo.residents(i, year);
            let e = deciles.entry(l.decile).or_default();
            *e = (e.0 + 1, e.1 + n, e.2 + pop);
            if pop > 0 {
                points.push((n as f64 * 1000.0 / pop as f64, f64::from(l.rank)));
            }
        }
        for (d, (lsoas, offences, population)) in deciles {
            out.d1.push(D1Row { period: period.clone(), imd_decile: d, lsoas, offences, population });
        }
        out.d1_spearman.push(D1Spearman { period: period.clone(), lsoas: points.len() as u64, spearman_rho: spearman(&points) });
    }
    out
}

/// Average ranks (1-based), ties sharing the mean of their positions.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            out[*k] = avg;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rho: Pearson's correlation of the average ranks.
pub fn spearman(points: &[(f64, f64)]) -> Option<f64> {
    let rx = ranks(&points.iter().map(|p| p.0).collect::<Vec<_>>());
    let ry = ranks(&points.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = points.len() as f64;
    if n < 2.0 {
        return None;
    }
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = rx.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|y| (y - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_with_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
        let perfect: Vec<(f64, f64)> = (0..5).map(|i| (f64::from(i), f64::from(10 - i))).collect();
        assert!((spearman(&perfect).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }
}
