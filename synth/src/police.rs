//! Police recorded crime. Offences land in deprived LSOAs far more often,
//! victims' ages follow the offence type, some are charged (young people of
//! the focus area chosen by their latent risk), and about one in a hundred
//! offences is reclassified and re-sent as version 2 in the next extract.

use crate::CityConfig;
use crate::geography::Geography;
use crate::people::People;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vru_model::{Role, Sex};

/// Where a person lives: an LSOA of the region, elsewhere in England, or not recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Home {
    Lsoa(usize),
    Outside(String),
    Unknown,
}

pub struct PersonRow {
    pub record_id: String,
    pub role: Role,
    pub raw_id: Option<String>,
    /// Index into `People::youths` when this is a young person of the focus area.
    pub youth: Option<usize>,
    pub age: Option<u8>,
    pub sex: Sex,
    pub home: Home,
    pub outcome: Option<&'static str>,
    pub outcome_date: Option<NaiveDate>,
}

pub struct Crime {
    pub crime_raw: String,
    /// The code as finally recorded (after any reclassification).
    pub code: &'static str,
    /// The first-sent code, when the offence was reclassified later.
    pub v1_code: Option<&'static str>,
    pub committed: NaiveDateTime,
    pub recorded: NaiveDate,
    pub lsoa: usize,
    pub knife: bool,
    pub firearm: bool,
    pub domestic: bool,
    pub rows: Vec<PersonRow>,
}

pub struct AsbIncident {
    pub record_id: String,
    pub at: NaiveDateTime,
    pub lsoa: usize,
    pub category: &'static str,
}

pub struct Police {
    pub crimes: Vec<Crime>,
    pub asb: Vec<AsbIncident>,
}

#[derive(Clone, Copy)]
enum VictimAges {
    None,
    Robbery,
    Serious,
    General,
}

struct OffenceMix {
    code: &'static str,
    /// In the `local` definition (without flags): keeps repeat offending
    /// within serious violence, as in the strategy's cohort.
    serious: bool,
    per_1000: f64,
    victims: VictimAges,
    knife: f64,
    firearm: f64,
    domestic: f64,
    charge: f64,
}

const fn mix(code: &'static str, per_1000: f64, victims: VictimAges, knife: f64, firearm: f64, domestic: f64, charge: f64) -> OffenceMix {
    let serious = matches!(
        code.as_bytes(),
        b"1/1" | b"4/1" | b"2" | b"5D" | b"5E" | b"34B" | b"10A" | b"10B" | b"10C" | b"10D" | b"81" | b"90" | b"56A" | b"56B"
    );
    OffenceMix { code, serious, per_1000, victims, knife, firearm, domestic, charge }
}

/// Yearly offences per 1,000 residents before the deprivation weighting.
const MIX: &[OffenceMix] = &[
    mix("1/1", 0.012, VictimAges::Serious, 0.4, 0.05, 0.3, 0.8),
    mix("4/1", 0.004, VictimAges::Serious, 0.1, 0.0, 0.2, 0.7),
    mix("2", 0.03, VictimAges::Serious, 0.45, 0.08, 0.15, 0.5),
    mix("3B", 0.4, VictimAges::General, 0.1, 0.0, 0.4, 0.2),
    mix("5D", 0.6, VictimAges::Serious, 0.3, 0.01, 0.15, 0.3),
    mix("5E", 0.1, VictimAges::Serious, 0.05, 0.0, 0.1, 0.3),
    mix("8N", 3.0, VictimAges::General, 0.06, 0.0, 0.35, 0.2),
    mix("105A", 4.0, VictimAges::General, 0.0, 0.0, 0.4, 0.15),
    mix("34B", 1.0, VictimAges::Robbery, 0.2, 0.004, 0.0, 0.15),
    mix("34A", 0.1, VictimAges::General, 0.15, 0.01, 0.0, 0.2),
    mix("10D", 0.35, VictimAges::None, 0.0, 0.0, 0.0, 0.6),
    mix("10C", 0.15, VictimAges::None, 0.0, 0.0, 0.0, 0.6),
    mix("10A", 0.01, VictimAges::None, 0.0, 0.0, 0.0, 0.7),
    mix("10B", 0.03, VictimAges::None, 0.0, 0.0, 0.0, 0.6),
    mix("81", 0.02, VictimAges::None, 0.0, 0.0, 0.0, 0.5),
    mix("90", 0.02, VictimAges::None, 0.0, 0.0, 0.0, 0.5),
    mix("56A", 0.05, VictimAges::General, 0.0, 0.0, 0.1, 0.2),
    mix("56B", 0.3, VictimAges::None, 0.0, 0.0, 0.0, 0.1),
    mix("92D", 0.8, VictimAges::None, 0.0, 0.0, 0.0, 0.7),
    mix("92A", 0.15, VictimAges::None, 0.0, 0.0, 0.0, 0.7),
    mix("58A", 0.5, VictimAges::General, 0.0, 0.0, 0.2, 0.1),
];

/// Reclassifications seen in practice: injuries found to be more (or less)
/// serious than first recorded.
fn reclassified(code: &'static str) -> Option<&'static str> {
    match code {
        "8N" => Some("5D"),
        "5D" => Some("8N"),
        "105A" => Some("8N"),
        "3B" => Some("105A"),
        _ => None,
    }
}

/// Share of charged serious-violence offences in the focus area where a
/// young person (10-17) is charged.
const YOUTH_SHARE: f64 = 0.3;

pub(crate) fn fy_bounds(fy: i32) -> (NaiveDate, NaiveDate) {
    (NaiveDate::from_ymd_opt(fy, 4, 1).expect("date"), NaiveDate::from_ymd_opt(fy + 1, 3, 31).expect("date"))
}

/// When the extract for a financial year is taken: six weeks after its end.
pub fn extract_date(fy: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(fy + 1, 5, 15).expect("date")
}

pub(crate) fn random_date(rng: &mut ChaCha8Rng, fy: i32) -> NaiveDate {
    let (start, end) = fy_bounds(fy);
    start + Duration::days(rng.random_range(0..=(end - start).num_days()))
}

/// Violence peaks in the evening and at night.
pub(crate) fn random_time(rng: &mut ChaCha8Rng, d: NaiveDate) -> NaiveDateTime {
    const HOUR_W: [u32; 24] = [8, 7, 5, 3, 2, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 6, 7, 7, 8, 9, 10, 9];
    let total: u32 = HOUR_W.iter().sum();
    let mut x = rng.random_range(0..total);
    let mut hour = 0;
    for (h, w) in HOUR_W.iter().enumerate() {
        if x < *w {
            hour = h as u32;
            break;
        }
        x -= w;
    }
    d.and_hms_opt(hour, rng.random_range(0..60), 0).expect("time")
}

pub(crate) fn outside_lsoa(rng: &mut ChaCha8Rng) -> String {
    format!("E01{:06}", rng.random_range(1..32_000))
}

impl Police {
    pub fn build(c: &CityConfig, geo: &Geography, people: &People) -> Self {
        let mut rng = c.rng(3);
        let n = geo.lsoas.len();
        // Where offences happen: population times deprivation weight.
        let weights: Vec<f64> = (0..n).map(|i| f64::from(geo.lsoas[i].base_pop.iter().sum::<u32>()) * geo.violence_weight(i)).collect();
        let region_pop: f64 = (0..n).map(|i| f64::from(geo.lsoas[i].base_pop.iter().sum::<u32>())).sum();
        let cum: Vec<f64> = weights
            .iter()
            .scan(0.0, |s, w| {
                *s += w;
                Some(*s)
            })
            .collect();
        let pick_lsoa = |rng: &mut ChaCha8Rng| cum.partition_point(|x| *x <= rng.random_range(0.0..*cum.last().expect("lsoas"))).min(n - 1);

        let mut crimes = Vec::new();
        let mut row_seq = 0u64;
        for fy in c.first_fy..=c.last_fy() {
            let trend = 0.97f64.powi(fy - c.first_fy) * c.scale;
            for m in MIX {
                let expected = m.per_1000 / 1000.0 * region_pop * trend;
                let count = poisson(&mut rng, expected);
                for _ in 0..count {
                    let lsoa = pick_lsoa(&mut rng);
                    let day = random_date(&mut rng, fy);
                    let committed = random_time(&mut rng, day);
                    let (_, fy_end) = fy_bounds(fy);
                    let recorded = (committed.date() + Duration::days(rng.random_range(0..=7))).min(fy_end);
                    let mut crime = Crime {
                        crime_raw: format!("CR/{fy}/{:07}", crimes.len()),
                        code: m.code,
                        v1_code: None,
                        committed,
                        recorded,
                        lsoa,
                        knife: rng.random_bool(m.knife),
                        firearm: rng.random_bool(m.firearm),
                        domestic: rng.random_bool(m.domestic),
                        rows: Vec::new(),
                    };
                    if fy < c.last_fy()
                        && let Some(new_code) = reclassified(m.code)
                        && rng.random_bool(0.01)
                    {
                        crime.v1_code = Some(m.code);
                        crime.code = new_code;
                    }
                    add_rows(&mut rng, geo, people, &mut crime, m, &mut row_seq, extract_date(fy));
                    crimes.push(crime);
                }
            }
        }
        let mut asb = Vec::new();
        for fy in c.first_fy..=c.last_fy() {
            let expected = 8.0 / 1000.0 * region_pop * 0.97f64.powi(fy - c.first_fy) * c.scale;
            for _ in 0..poisson(&mut rng, expected) {
                let category = match rng.random_range(0..20) {
                    0..=4 => "personal",
                    5..=17 => "nuisance",
                    _ => "environmental",
                };
                let day = random_date(&mut rng, fy);
                let at = random_time(&mut rng, day);
                asb.push(AsbIncident { record_id: format!("ASB{:08}", asb.len()), at, lsoa: pick_lsoa(&mut rng), category });
            }
        }
        Police { crimes, asb }
    }
}

fn victim_age(rng: &mut ChaCha8Rng, v: VictimAges) -> u8 {
    let r: f64 = rng.random();
    let (lo, hi) = match v {
        VictimAges::Robbery if r < 0.6 => (15, 23),
        VictimAges::Robbery if r < 0.85 => (24, 34),
        VictimAges::Serious if r < 0.12 => (14, 19),
        VictimAges::Serious if r < 0.6 => (20, 34),
        VictimAges::Serious if r < 0.85 => (35, 49),
        VictimAges::General if r < 0.05 => (10, 14),
        VictimAges::General if r < 0.75 => (15, 49),
        _ => (35, 80),
    };
    rng.random_range(lo..=hi)
}

fn add_rows(rng: &mut ChaCha8Rng, geo: &Geography, people: &People, crime: &mut Crime, m: &OffenceMix, seq: &mut u64, extract: NaiveDate) {
    let focus = geo.is_focus(crime.lsoa);
    let mut next_id = || {
        *seq += 1;
        format!("P{:09}", *seq)
    };
    if !matches!(m.victims, VictimAges::None) {
        let age = victim_age(rng, m.victims);
        let sex = if rng.random_bool(if m.code == "34B" || crime.domestic { 0.55 } else { 0.75 }) { Sex::Male } else { Sex::Female };
        // A third of robbery victims in the focus area live outside it, a
        // quarter elsewhere; a few homes are not recorded.
        let r: f64 = rng.random();
        let outside_share = if m.code == "34B" { if focus { 0.33 } else { 0.25 } } else { 0.2 };
        let home = if r < 0.04 {
            Home::Unknown
        } else if r < outside_share {
            other_home(rng, geo, crime.lsoa)
        } else {
            Home::Lsoa(crime.lsoa)
        };
        let row = PersonRow {
            record_id: next_id(),
            role: Role::Victim,
            raw_id: Some(people.mint_raw()),
            youth: None,
            age: Some(age),
            sex,
            home,
            outcome: None,
            outcome_date: None,
        };
        crime.rows.push(row);
    }
    let charged = rng.random_bool(m.charge);
    let n_people = if charged && rng.random_bool(0.15) { 2 } else { 1 };
    for _ in 0..n_people {
        let outcome_date = (crime.committed.date() + Duration::days(rng.random_range(1..=120))).min(extract);
        let (role, outcome, outcome_date) = if charged {
            (Role::Charged, Some(if rng.random_bool(0.9) { "charged" } else { "summonsed" }), Some(outcome_date))
        } else {
            (Role::Suspect, None, None)
        };
        let youth = match (focus && rng.random_bool(YOUTH_SHARE), charged) {
            (false, _) => None,
            (true, true) => people.pick_youth(rng, crime.committed.date(), m.serious),
            (true, false) => people.pick_new_youth(rng, crime.committed.date()),
        };
        let row = match youth {
            Some(y) => {
                let p = &people.youths[y];
                PersonRow {
                    record_id: next_id(),
                    role,
                    raw_id: Some(p.raw_id.clone()),
                    youth: Some(y),
                    age: Some(p.age_on(crime.committed.date())),
                    sex: p.sex,
                    home: Home::Lsoa(p.home),
                    outcome,
                    outcome_date,
                }
            }
            None => {
                let age = if !focus && rng.random_bool(0.2) { rng.random_range(12..=17) } else { rng.random_range(18..=55) };
                let sex = if rng.random_bool(0.85) { Sex::Male } else { Sex::Female };
                let identified = charged || rng.random_bool(0.6);
                PersonRow {
                    record_id: next_id(),
                    role,
                    raw_id: identified.then(|| people.mint_raw()),
                    youth: None,
                    age: identified.then_some(age),
                    sex: if identified { sex } else { Sex::Unknown },
                    home: if identified { other_home(rng, geo, crime.lsoa) } else { Home::Unknown },
                    outcome,
                    outcome_date,
                }
            }
        };
        crime.rows.push(row);
    }
}

fn other_home(rng: &mut ChaCha8Rng, geo: &Geography, near: usize) -> Home {
    if rng.random_bool(0.3) {
        Home::Outside(outside_lsoa(rng))
    } else if rng.random_bool(0.5) {
        Home::Lsoa(near)
    } else {
        Home::Lsoa(rng.random_range(0..geo.lsoas.len()))
    }
}

/// Poisson by inversion for small means and a rounded normal for large ones;
/// exactness does not matter, determinism does.
pub(crate) fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
        return (mean + z * mean.sqrt()).round().max(0.0) as u64;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0u64, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}
