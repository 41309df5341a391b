//! The other partners: A&E assault attendances, the youth justice service,
//! schools (census, suspensions, exclusions, alternative provision, NEET)
//! and children's services' ACE screenings. Young people's risk drives all
//! of them, which is what makes the cohort risk factors (C1) non-trivial.

use crate::CityConfig;
use crate::geography::Geography;
use crate::people::People;
use crate::police::{Home, Police, extract_date, fy_bounds, outside_lsoa, poisson, random_date, random_time};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use vru_model::Sex;

pub struct AeRecord {
    pub record_id: String,
    pub site: &'static str,
    pub arrival: NaiveDateTime,
    pub assault_at: Option<NaiveDateTime>,
    pub method: Option<&'static str>,
    pub location: Option<&'static str>,
    pub description: Option<&'static str>,
    pub raw_id: String,
    pub age: u8,
    pub sex: Sex,
    pub home: Home,
}

pub struct YjRecord {
    pub record_id: String,
    pub youth: usize,
    pub age: u8,
    pub code: &'static str,
    pub offence_date: NaiveDate,
    pub outcome: &'static str,
    pub outcome_date: NaiveDate,
    pub gravity: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EduKind {
    Census,
    Suspension,
    Exclusion,
    Ap,
    Neet,
}

pub struct EduRecord {
    pub record_id: String,
    pub kind: EduKind,
    pub youth: usize,
    pub age: u8,
    pub date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub sessions: Option<f64>,
    pub reasons: Vec<&'static str>,
    pub neet: Option<bool>,
    pub school: String,
}

pub struct AceRecord {
    pub record_id: String,
    pub youth: usize,
    pub age: u8,
    pub date: NaiveDate,
    pub set: &'static str,
    pub indicators: Vec<(&'static str, Option<bool>)>,
}

pub struct Services {
    pub ae: Vec<AeRecord>,
    pub yjs: Vec<YjRecord>,
    pub education: Vec<EduRecord>,
    pub ace: Vec<AceRecord>,
}

fn gravity(code: &str) -> u8 {
    match code {
        "1/1" | "4/1" | "2" => 8,
        "5D" | "5E" | "34B" | "34A" | "10A" => 6,
        "10D" | "10C" | "10B" | "56A" | "3B" => 5,
        "8N" | "92A" => 4,
        "105A" | "58A" | "56B" => 3,
        _ => 2,
    }
}

impl Services {
    pub fn build(c: &CityConfig, geo: &Geography, people: &People, police: &Police) -> Self {
        Services { ae: ae(c, geo, people), yjs: yjs(c, people, police), education: education(c, people), ace: ace(c, people) }
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (v, w) in items {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    items[0].0
}

fn ae(c: &CityConfig, geo: &Geography, people: &People) -> Vec<AeRecord> {
    let mut rng = c.rng(4);
    let focus: Vec<usize> = (0..geo.lsoas.len()).filter(|i| geo.is_focus(*i)).collect();
    let focus_pop: f64 = focus.iter().map(|i| f64::from(geo.lsoas[*i].base_pop.iter().sum::<u32>())).sum();
    let mut out = Vec::new();
    const DESCRIPTIONS: &[&str] =
        &["street", "outside a pub", "bus station", "park", "at home", "nightclub queue", "shop", "school gates", "car park"];
    for fy in c.first_fy..=c.last_fy() {
        let expected = 2.5 / 1000.0 * focus_pop * 0.97f64.powi(fy - c.first_fy) * c.scale;
        for _ in 0..poisson(&mut rng, expected) {
            // More attendances at weekends.
            let day = loop {
                let d = random_date(&mut rng, fy);
                if matches!(d.weekday(), Weekday::Fri | Weekday::Sat | Weekday::Sun) || rng.random_bool(0.6) {
                    break d;
                }
            };
            let arrival = random_time(&mut rng, day);
            let age = pick(&mut rng, &[((10u8, 14u8), 3), ((15, 25), 35), ((26, 40), 35), ((41, 80), 27)]);
            let r: f64 = rng.random();
            let home = if r < 0.05 {
                Home::Unknown
            } else if r < 0.1 {
                Home::Outside(outside_lsoa(&mut rng))
            } else if r < 0.3 {
                Home::Lsoa(rng.random_range(0..geo.lsoas.len()))
            } else {
                Home::Lsoa(*focus.choose(&mut rng).expect("focus lsoas"))
            };
            let assault_at = rng.random_bool(0.88).then(|| arrival - Duration::minutes(rng.random_range(10..480)));
            let method = pick(
                &mut rng,
                &[
                    (Some("body_part"), 48),
                    (Some("blunt_object"), 14),
                    (Some("knife_sharp_object"), 11),
                    (Some("other"), 12),
                    (Some("firearm"), 1),
                    (None, 14),
                ],
            );
            let location = pick(
                &mut rng,
                &[
                    (Some("public_place"), 44),
                    (Some("home"), 21),
                    (Some("licensed_premises"), 14),
                    (Some("school"), 3),
                    (Some("workplace"), 5),
                    (Some("other"), 5),
                    (None, 8),
                ],
            );
            out.push(AeRecord {
                record_id: format!("AE{:08}", out.len()),
                site: "RCB01",
                arrival,
                assault_at: assault_at.filter(|a| a.date() >= fy_bounds(fy).0),
                method,
                location,
                description: rng.random_bool(0.8).then(|| *DESCRIPTIONS.choose(&mut rng).expect("descriptions")),
                raw_id: people.mint_raw(),
                age: rng.random_range(age.0..=age.1),
                sex: if rng.random_bool(0.72) { Sex::Male } else { Sex::Female },
                home,
            });
        }
    }
    out
}

fn yjs(c: &CityConfig, people: &People, police: &Police) -> Vec<YjRecord> {
    let mut rng = c.rng(5);
    let mut out = Vec::new();
    let push = |out: &mut Vec<YjRecord>, youth: usize, code: &'static str, d: NaiveDate, outcome: &'static str, od: NaiveDate| {
        let age = people.youths[youth].age_on(d);
        out.push(YjRecord {
            record_id: format!("YJ{:07}", out.len()),
            youth,
            age,
            code,
            offence_date: d,
            outcome,
            outcome_date: od,
            gravity: gravity(code),
        });
    };
    // The youth justice service hears of most charges of the area's children.
    for crime in &police.crimes {
        for row in crime.rows.iter().filter(|r| r.youth.is_some() && r.outcome.is_some()) {
            if rng.random_bool(0.95) {
                let od = row.outcome_date.expect("charged rows have dates");
                push(&mut out, row.youth.expect("filtered"), crime.code, crime.committed.date(), "charge", od);
            }
        }
    }
    // Charges police here did not record (offences elsewhere) and
    // out-of-court outcomes for lesser offences.
    for fy in c.first_fy..=c.last_fy() {
        for _ in 0..poisson(&mut rng, 12.0 * c.scale) {
            let d = random_date(&mut rng, fy);
            if let Some(y) = people.pick_youth(&mut rng, d, true) {
                let code = *["5D", "34B", "10D"].choose(&mut rng).expect("codes");
                push(&mut out, y, code, d, "charge", (d + Duration::days(30)).min(extract_date(fy)));
            }
        }
        for _ in 0..poisson(&mut rng, 150.0 * c.scale) {
            let d = random_date(&mut rng, fy);
            if let Some(y) = people.pick_new_youth(&mut rng, d) {
                let code = *["105A", "58A", "92D", "49"].choose(&mut rng).expect("codes");
                let outcome =
                    *["caution", "youth_conditional_caution", "community_resolution", "referral_order"].choose(&mut rng).expect("outcomes");
                push(&mut out, y, code, d, outcome, (d + Duration::days(45)).min(extract_date(fy)));
            }
        }
    }
    out
}

fn school_of(youth: usize) -> String {
    format!("URN9{:05}", 10 + youth % 37)
}

const REASONS: &[(&str, u32)] =
    &[("DB", 30), ("PP", 14), ("PA", 8), ("VP", 10), ("VA", 12), ("OW", 4), ("BW", 2), ("DR", 6), ("DM", 5), ("BU", 4)];

fn education(c: &CityConfig, people: &People) -> Vec<EduRecord> {
    let mut rng = c.rng(6);
    let mut out = Vec::new();
    let mut id = 0u64;
    let mut rec = |kind, youth: usize, date: NaiveDate| {
        id += 1;
        EduRecord {
            record_id: format!("ED{id:08}"),
            kind,
            youth,
            age: people.youths[youth].age_on(date),
            date,
            end_date: None,
            sessions: None,
            reasons: vec![],
            neet: None,
            school: school_of(youth),
        }
    };
    for (y, p) in people.youths.iter().enumerate() {
        for fy in c.first_fy..=c.last_fy() {
            let census = NaiveDate::from_ymd_opt(fy + 1, 1, 16).expect("date");
            let age = p.age_on(census);
            if !(10..=17).contains(&age) {
                continue;
            }
            out.push(rec(EduKind::Census, y, census));
            let r = p.risk;
            let suspensions = if rng.random_bool((0.02 + 0.35 * r).min(1.0)) { rng.random_range(1..=3) } else { 0 };
            for _ in 0..suspensions {
                let mut e = rec(EduKind::Suspension, y, term_date(&mut rng, fy));
                e.sessions = Some(f64::from(rng.random_range(1..=20)) / 2.0);
                e.reasons = (0..rng.random_range(1..=3)).map(|_| pick(&mut rng, REASONS)).collect();
                e.reasons.dedup();
                out.push(e);
            }
            if rng.random_bool(0.0005 + 0.06 * r * r) {
                let mut e = rec(EduKind::Exclusion, y, term_date(&mut rng, fy));
                e.reasons = vec![pick(&mut rng, REASONS)];
                out.push(e);
            }
            if rng.random_bool(0.001 + 0.08 * r * r) {
                let start = term_date(&mut rng, fy);
                let mut e = rec(EduKind::Ap, y, start);
                e.end_date = rng.random_bool(0.7).then(|| (start + Duration::days(rng.random_range(30..200))).min(fy_bounds(fy).1));
                e.school = format!("AP{:03}", y % 5);
                out.push(e);
            }
            let neet_census = NaiveDate::from_ymd_opt(fy, 10, 31).expect("date");
            if (16..=17).contains(&p.age_on(neet_census)) {
                let mut e = rec(EduKind::Neet, y, neet_census);
                e.neet = Some(rng.random_bool(0.02 + 0.3 * r));
                out.push(e);
            }
        }
    }
    out
}

/// A school day of the financial year (no August).
fn term_date(rng: &mut ChaCha8Rng, fy: i32) -> NaiveDate {
    loop {
        let d = random_date(rng, fy);
        if d.month() != 8 && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return d;
        }
    }
}

fn ace(c: &CityConfig, people: &People) -> Vec<AceRecord> {
    let mut rng = c.rng(7);
    let mut out = Vec::new();
    for (y, p) in people.youths.iter().enumerate() {
        if !rng.random_bool(0.03 + 0.6 * p.risk * p.risk) {
            continue;
        }
        let fy = rng.random_range(c.first_fy..=c.last_fy());
        let date = random_date(&mut rng, fy);
        let set = if rng.random_bool(0.8) { "CDC10" } else { "PHW9" };
        let names = vru_model::sources::ace::indicators_of(&set.to_ascii_lowercase());
        let prob = 0.05 + 0.55 * p.risk;
        let indicators = names
            .iter()
            .map(|n| {
                let v = if rng.random_bool(prob) {
                    Some(true)
                } else if rng.random_bool(0.1) {
                    None
                } else {
                    Some(false)
                };
                (*n, v)
            })
            .collect();
        out.push(AceRecord { record_id: format!("ACE{:07}", out.len()), youth: y, age: p.age_on(date), date, set, indicators });
    }
    out
}
