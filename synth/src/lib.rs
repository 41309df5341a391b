//! A deterministic synthetic city, so the pipeline can be demonstrated and
//! tested end to end without real data about real children.
//!
//! The city is built as a VRU would see it: a focus area (one local
//! authority) inside a larger region; people whose deprivation, adverse
//! childhood experiences, school exclusions and offending are correlated;
//! partners who send yearly extracts, late, with corrected and re-sent rows.
//! Because the generator knows every planted fact, it also computes the
//! measures itself ([`truth`]) so tests can compare the SQL against them.
//!
//! | module | job |
//! |---|---|
//! | [`geography`] | local authorities, wards, LSOAs, IMD deciles, population |
//! | [`people`] | young people with a latent risk, adults, pseudonymous ids |
//! | [`police`] | recorded crimes with person rows, corrections, ASB |
//! | [`services`] | A&E attendances, youth justice, education, ACE screenings |
//! | [`community`] | safety-perception survey waves, the commitments tracker |
//! | [`extracts`] | writes partner extracts and reference tables as CSV |
//! | [`truth`] | the planted values of the measures |

pub mod ambulance;
pub mod community;
pub mod extracts;
pub mod geography;
pub mod people;
pub mod police;
pub mod services;
pub mod truth;

mod error;
pub use error::SynthError;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The size and span of the city. Defaults give about 200,000 events over
/// five financial years, enough for stable measures and a demo that runs in
/// seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CityConfig {
    pub seed: u64,
    /// LSOAs in the focus local authority.
    pub focus_lsoas: usize,
    /// Other local authorities in the region (needed for shares and
    /// victims from outside).
    pub other_las: usize,
    pub lsoas_per_other_la: usize,
    /// First financial year, by its starting calendar year.
    pub first_fy: i32,
    pub years: i32,
    /// Multiplies event volumes (not population).
    pub scale: f64,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig { seed: 42, focus_lsoas: 120, other_las: 4, lsoas_per_other_la: 60, first_fy: 2019, years: 5, scale: 1.0 }
    }
}

impl CityConfig {
    pub fn check(&self) -> Result<(), SynthError> {
        let bad = |m: &str| Err(SynthError::Config(m.to_string()));
        if self.focus_lsoas < 8 || self.focus_lsoas > 20_000 {
            return bad("focus_lsoas must be between 8 and 20000");
        }
        if self.lsoas_per_other_la > 20_000 || self.other_las > 50 {
            return bad("at most 50 other local authorities of at most 20000 LSOAs");
        }
        if !(1..=15).contains(&self.years) || !(2000..=2030).contains(&self.first_fy) {
            return bad("years must be 1-15 and first_fy 2000-2030");
        }
        if !(self.scale > 0.0 && self.scale <= 100.0) {
            return bad("scale must be in (0, 100]");
        }
        Ok(())
    }

    /// The last financial year generated, by its starting year.
    pub fn last_fy(&self) -> i32 {
        self.first_fy + self.years - 1
    }

    /// An independent random stream per part of the city, so changing how
    /// one part is generated does not reshuffle all the others.
    pub(crate) fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed);
        r.set_stream(stream);
        r
    }
}

/// Everything generated, in memory.
pub struct City {
    pub config: CityConfig,
    pub geo: geography::Geography,
    pub people: people::People,
    pub police: police::Police,
    pub services: services::Services,
    pub community: community::Community,
    pub ambulance: Vec<ambulance::Callout>,
}

/// What `generate` wrote, for the caller to print.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub landing: String,
    pub reference: String,
    pub key_file: String,
    pub truth_file: String,
    pub focus_area: Vec<String>,
    pub files: usize,
    pub rows: u64,
}

pub fn build(config: &CityConfig) -> Result<City, SynthError> {
    config.check()?;
    let geo = geography::Geography::build(config);
    let people = people::People::build(config, &geo);
    let police = police::Police::build(config, &geo, &people);
    let services = services::Services::build(config, &geo, &people, &police);
    let community = community::Community::build(config, &geo);
    let ambulance = ambulance::build(config, &geo);
    Ok(City { config: config.clone(), geo, people, police, services, community, ambulance })
}

/// Builds the city and writes `out/landing/<partner>/*.csv`,
/// `out/reference/*.csv`, `out/keys/pseudonym.key` and `out/truth.json`.
pub fn generate(config: &CityConfig, out: &Path) -> Result<Summary, SynthError> {
    let city = build(config)?;
    extracts::write_all(&city, out)
}
