//! A1, P1, K1, Q1: the A&E profile, safety perception, commitments and
//! partner data quality.

use super::{Areas, fy_label, fy_of, percentile_cont};
use crate::City;
use chrono::{Datelike, NaiveDate, Timelike};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A1Row {
    pub period: String,
    pub attendances: u64,
    /// Attendances with each ISTV field filled, by field name.
    pub complete: BTreeMap<String, u64>,
    /// (day 0 = Sunday, hour) -> attendances; absent cells are zero.
    pub hour_day: BTreeMap<String, u64>,
    /// "method|location" -> attendances, `not recorded` for blanks.
    pub method_location: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct P1Row {
    pub period: String,
    pub area_code: String,
    pub respondents: String,
    pub dimension: String,
    pub answered: u64,
    pub agree: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K1Row {
    pub period: String,
    pub priority: String,
    pub status: String,
    pub commitments: u64,
}

/// What one extract file carries, recorded as it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FileStats {
    pub partner: String,
    pub file_name: String,
    pub extract_date: Option<NaiveDate>,
    pub rows: u64,
    /// Dates of the events first sent in this file (re-sent rows are
    /// already in the lake under an earlier extract).
    pub new_event_dates: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Q1Row {
    pub partner: String,
    pub file_name: String,
    pub rows_read: u64,
    pub median_days_to_arrival: Option<f64>,
    pub p90_days_to_arrival: Option<f64>,
}

pub(super) fn a1(city: &City) -> Vec<A1Row> {
    let mut out: BTreeMap<i32, A1Row> = BTreeMap::new();
    for a in city.services.ae.iter().filter(|a| (10..=25).contains(&a.age)) {
        let fy = fy_of(a.arrival.date());
        let row = out.entry(fy).or_insert_with(|| A1Row {
            period: fy_label(fy),
            attendances: 0,
            complete: BTreeMap::new(),
            hour_day: BTreeMap::new(),
            method_location: BTreeMap::new(),
        });
        row.attendances += 1;
        for (field, filled) in [
            ("assault_at", a.assault_at.is_some()),
            ("assault_method", a.method.is_some()),
            ("location_type", a.location.is_some()),
            ("location_description", a.description.is_some()),
        ] {
            *row.complete.entry(field.into()).or_default() += u64::from(filled);
        }
        let dow = a.arrival.weekday().num_days_from_sunday();
        *row.hour_day.entry(format!("{dow}|{}", a.arrival.hour())).or_default() += 1;
        let key = format!("{}|{}", a.method.unwrap_or("not recorded"), a.location.unwrap_or("not recorded"));
        *row.method_location.entry(key).or_default() += 1;
    }
    out.into_values().collect()
}

pub(super) fn p1(city: &City, areas: &Areas) -> Vec<P1Row> {
    let mut counts: BTreeMap<(String, String, &str, &str), (u64, u64)> = BTreeMap::new();
    let dims = ["safe", "supported", "respected", "hopeful"];
    for r in &city.community.survey {
        let period = fy_label(fy_of(r.wave));
        let young = matches!(r.age_band, "11-15" | "16-24");
        let mut places = vec![r.area.clone()];
        if areas.focus_las.contains(&r.area) {
            places.push(super::FOCUS.into());
        }
        for place in places {
            for (k, dim) in dims.iter().enumerate() {
                let groups: &[&str] = match (k, young) {
                    (0, true) => &["all", "young_people"],
                    (0, false) => &["all"],
                    (_, true) => &["young_people"],
                    (_, false) => &[],
                };
                for g in groups {
                    let e = counts.entry((period.clone(), place.clone(), g, dim)).or_default();
                    if let Some(v) = r.answers[k] {
                        e.0 += 1;
                        e.1 += u64::from(v >= 4);
                    }
                }
            }
        }
    }
    counts
        .into_iter()
        .map(|((period, area_code, g, dim), (answered, agree))| P1Row {
            period,
            area_code,
            respondents: g.into(),
            dimension: dim.into(),
            answered,
            agree,
        })
        .collect()
}

pub(super) fn k1(city: &City) -> Vec<K1Row> {
    let c = &city.config;
    let mut out = Vec::new();
    for fy in c.first_fy..=c.last_fy() {
        let end = NaiveDate::from_ymd_opt(fy + 1, 4, 1).expect("date");
        let mut latest: HashMap<&str, (NaiveDate, u32, &str, &str)> = HashMap::new();
        for u in city.community.commitments.iter().filter(|u| u.date < end) {
            let e = latest.entry(&u.commitment).or_insert((u.date, u.version, u.priority, u.status));
            if (u.date, u.version) > (e.0, e.1) {
                *e = (u.date, u.version, u.priority, u.status);
            }
        }
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (_, _, priority, status) in latest.values() {
            for p in [*priority, "all"] {
                *counts.entry((p, status)).or_default() += 1;
                *counts.entry((p, "total")).or_default() += 1;
            }
        }
        out.extend(counts.into_iter().map(|((p, s), n)| K1Row {
            period: fy_label(fy),
            priority: p.into(),
            status: s.into(),
            commitments: n,
        }));
    }
    out
}

pub(super) fn q1(files: &[FileStats]) -> Vec<Q1Row> {
    files
        .iter()
        .map(|f| {
            let mut days: Vec<f64> = f.new_event_dates.iter().filter_map(|d| f.extract_date.map(|x| (x - *d).num_days() as f64)).collect();
            days.sort_by(f64::total_cmp);
            Q1Row {
                partner: f.partner.clone(),
                file_name: f.file_name.clone(),
                rows_read: f.rows,
                median_days_to_arrival: percentile_cont(&days, 0.5),
                p90_days_to_arrival: percentile_cont(&days, 0.9),
            }
        })
        .collect()
}
