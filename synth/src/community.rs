//! What the community says and what the partnership promised: yearly
//! safety-perception survey waves (anonymous) and the commitments tracker.
//! Feeling safe is less likely where violence is higher, so P1 and H1
//! tell a consistent story.

use crate::CityConfig;
use crate::geography::Geography;
use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand::seq::IndexedRandom;

pub struct SurveyResponse {
    pub record_id: String,
    pub wave: NaiveDate,
    /// Local authority code.
    pub area: String,
    pub age_band: &'static str,
    /// safe, supported, respected, hopeful: 1-5, `None` when not answered.
    pub answers: [Option<u8>; 4],
}

pub struct CommitmentUpdate {
    pub commitment: String,
    pub version: u32,
    pub title: String,
    pub priority: &'static str,
    pub owner: &'static str,
    pub due: NaiveDate,
    pub status: &'static str,
    pub date: NaiveDate,
}

pub struct Community {
    pub survey: Vec<SurveyResponse>,
    pub commitments: Vec<CommitmentUpdate>,
}

const BANDS: &[(&str, u32)] = &[("11-15", 12), ("16-24", 16), ("25-34", 18), ("35-49", 22), ("50-64", 18), ("65+", 14)];

/// The survey wave of a financial year: in November.
pub fn wave_date(fy: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(fy, 11, 15).expect("date")
}

impl Community {
    pub fn build(c: &CityConfig, geo: &Geography) -> Self {
        let mut rng = c.rng(8);
        let mut survey = Vec::new();
        for fy in c.first_fy..=c.last_fy() {
            for (li, la) in geo.las.iter().enumerate() {
                // Mean deprivation weight of the LA's LSOAs: 1 for decile 1 down to ~0.1.
                let lsoas: Vec<usize> = (0..geo.lsoas.len()).filter(|i| geo.lsoas[*i].la == li).collect();
                let dep = lsoas.iter().map(|i| geo.violence_weight(*i)).sum::<f64>() / lsoas.len().max(1) as f64;
                let n = (150.0 * c.scale).round().max(10.0) as usize;
                for _ in 0..n {
                    let band = pick_band(&mut rng);
                    let young = matches!(band, "11-15" | "16-24");
                    let base =
                        [0.78 - 0.35 * dep, if young { 0.55 } else { 0.6 }, if young { 0.5 } else { 0.6 }, if young { 0.58 } else { 0.6 }];
                    let mut answers = [None; 4];
                    for (k, p) in base.iter().enumerate() {
                        if rng.random_bool(0.05) {
                            continue;
                        }
                        answers[k] =
                            Some(if rng.random_bool(p.clamp(0.05, 0.95)) { rng.random_range(4..=5) } else { rng.random_range(1..=3) });
                    }
                    survey.push(SurveyResponse {
                        record_id: format!("S{:07}", survey.len()),
                        wave: wave_date(fy),
                        area: la.code.clone(),
                        age_band: band,
                        answers,
                    });
                }
            }
        }
        Community { survey, commitments: commitments(c, &mut rng) }
    }
}

fn pick_band(rng: &mut impl Rng) -> &'static str {
    let total: u32 = BANDS.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (b, w) in BANDS {
        if x < *w {
            return b;
        }
        x -= w;
    }
    BANDS[0].0
}

const PRIORITIES: &[&str] = &["prevention_and_early_intervention", "support_and_protect", "disrupt_divert_and_enforce"];
const OWNERS: &[&str] = &["VRU", "Police", "Youth Justice", "Education", "Health", "Community Safety"];
const TITLES: &[&str] = &[
    "Prevention panels in every locality",
    "Mentors in high schools",
    "Navigators in A&E",
    "Trauma-informed training",
    "Think-family support offer",
    "Alternative provision taskforce",
    "Contextual safeguarding pilot",
    "Serious violence crime hub",
];

/// A dozen commitments per priority, updated each quarter: most move from
/// not started through on track to delivered by their due date; some slip.
fn commitments(c: &CityConfig, rng: &mut impl Rng) -> Vec<CommitmentUpdate> {
    let mut out = Vec::new();
    let start = NaiveDate::from_ymd_opt(c.first_fy, 4, 1).expect("date");
    let end = NaiveDate::from_ymd_opt(c.last_fy() + 1, 3, 31).expect("date");
    let months = (end - start).num_days() / 30;
    for (pi, priority) in PRIORITIES.iter().enumerate() {
        for k in 0..8 {
            let id = format!("C{}-{:02}", pi + 1, k + 1);
            let due = start + Duration::days(rng.random_range(180..=(months * 30).max(200)));
            let title = format!("{} ({})", TITLES[(pi * 3 + k) % TITLES.len()], k + 1);
            let owner = OWNERS.choose(rng).expect("owners");
            let mut status = "not_started";
            let mut date = start + Duration::days(rng.random_range(0..60));
            let mut version = 1;
            while date <= end {
                out.push(CommitmentUpdate { commitment: id.clone(), version, title: title.clone(), priority, owner, due, status, date });
                if status == "delivered" {
                    break;
                }
                status = match status {
                    "not_started" => {
                        if rng.random_bool(0.7) {
                            "on_track"
                        } else {
                            "not_started"
                        }
                    }
                    _ if date >= due && rng.random_bool(0.7) => "delivered",
                    _ => {
                        if rng.random_bool(0.2) {
                            "at_risk"
                        } else {
                            "on_track"
                        }
                    }
                };
                date += Duration::days(91);
                version += 1;
            }
        }
    }
    out
}
