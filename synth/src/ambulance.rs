//! The ambulance service: call-outs across the region, more of them in
//! deprived areas, about a third to assaults (a sixth of those with a
//! weapon). A few are corrected in the next year's extract (the crew's
//! report shows the call was, or was not, an assault), so the measure must
//! count each call-out once, in its latest version.

use crate::CityConfig;
use crate::geography::Geography;
use crate::police::{poisson, random_date, random_time};
use chrono::NaiveDateTime;
use rand::Rng;
use vru_model::Sex;

pub struct Callout {
    pub record_id: String,
    pub at: NaiveDateTime,
    pub category: &'static str,
    /// Index of the incident's LSOA; `None` when dispatch recorded none.
    pub lsoa: Option<usize>,
    pub age_band: Option<&'static str>,
    pub sex: Sex,
    /// As first sent.
    pub assault: bool,
    pub weapon: bool,
    /// Sent again as version 2 a year later with `assault` flipped (and no
    /// weapon when it is no longer an assault).
    pub corrected: bool,
}

impl Callout {
    /// The call-out as the latest extract has it: (assault, weapon).
    pub fn latest(&self) -> (bool, bool) {
        if self.corrected { (!self.assault, !self.assault && self.weapon) } else { (self.assault, self.weapon) }
    }
}

/// Call-outs per resident per year, before the deprivation weight.
const RATE: f64 = 8.0 / 1000.0;

pub fn build(c: &CityConfig, geo: &Geography) -> Vec<Callout> {
    let mut rng = c.rng(9);
    let mut out = Vec::new();
    let bands = vru_model::sources::ambulance::AGE_BANDS;
    for fy in c.first_fy..=c.last_fy() {
        for (i, l) in geo.lsoas.iter().enumerate() {
            let residents: f64 = l.base_pop.iter().map(|p| f64::from(*p)).sum();
            let expected = RATE * residents * (0.4 + geo.violence_weight(i)) * c.scale;
            for _ in 0..poisson(&mut rng, expected) {
                let day = random_date(&mut rng, fy);
                let at = random_time(&mut rng, day);
                let assault = rng.random_bool(0.35);
                let weapon = assault && rng.random_bool(0.17);
                let sex = if rng.random_bool(0.05) {
                    Sex::Unknown
                } else if rng.random_bool(if assault { 0.7 } else { 0.5 }) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                out.push(Callout {
                    record_id: format!("CAD-{fy}-{:06}", out.len()),
                    at,
                    category: ["c1", "c2", "c2", "c3", "c3", "c4", "c5"][rng.random_range(0..7)],
                    lsoa: (!rng.random_bool(0.03)).then_some(i),
                    age_band: (!rng.random_bool(0.08)).then(|| bands[rng.random_range(0..bands.len())]),
                    sex,
                    assault,
                    weapon,
                    // The last year's extract has no next year to correct it.
                    corrected: fy < c.last_fy() && rng.random_bool(0.02),
                });
            }
        }
    }
    out
}
