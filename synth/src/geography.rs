//! Areas and denominators: one focus local authority and its neighbours,
//! wards, LSOAs with IMD deciles clustered by ward, and ONS-style population
//! by LSOA, single year of age and mid-year.

use crate::CityConfig;
use rand::Rng;
use rand::seq::SliceRandom;

pub struct La {
    pub code: String,
    pub name: String,
    pub focus: bool,
}

pub struct Ward {
    pub code: String,
    pub name: String,
    pub la: usize,
}

pub struct Lsoa {
    pub code: String,
    pub name: String,
    pub ward: usize,
    pub la: usize,
    /// IMD 2019 decile, 1 = most deprived.
    pub decile: u8,
    pub rank: u32,
    /// Residents of each single year of age 0..=90 (90 = 90 and over) in
    /// the first population year; later years grow slowly.
    pub base_pop: Vec<u32>,
}

pub struct Geography {
    pub las: Vec<La>,
    pub wards: Vec<Ward>,
    pub lsoas: Vec<Lsoa>,
    /// Mid-year estimates available. ONS publishes with a lag, so the last
    /// financial year has no estimate of its own and the nearest is used.
    pub pop_years: Vec<i32>,
}

const LA_NAMES: &[&str] =
    &["Castlebridge", "Ashford Vale", "Brennock", "Dunmere", "Eastholme", "Fairlow", "Greystone", "Harwick", "Ivybank", "Kellbrook"];
/// Over 90% of England's LSOAs have codes below E01040000, so codes from
/// E01900001 cannot be mistaken for real areas.
const LSOA_BASE: u32 = 900_001;
const WARDS_PER_LA: usize = 8;

pub const MAX_AGE: usize = 90;

impl Geography {
    pub fn build(c: &CityConfig) -> Self {
        let mut rng = c.rng(1);
        let mut las = Vec::new();
        let mut wards = Vec::new();
        let mut lsoas = Vec::new();
        for la in 0..=c.other_las {
            let name = LA_NAMES.get(la).map_or_else(|| format!("District {la}"), |s| s.to_string());
            las.push(La { code: format!("E08{:06}", 900_001 + la), name: name.clone(), focus: la == 0 });
            let n = if la == 0 { c.focus_lsoas } else { c.lsoas_per_other_la };
            let first_ward = wards.len();
            for w in 0..WARDS_PER_LA.min(n.max(1)) {
                wards.push(Ward { code: format!("E05{:06}", 900_001 + wards.len()), name: format!("{name} Ward {}", w + 1), la });
            }
            let nwards = wards.len() - first_ward;
            // Deprivation clusters by ward: each ward has a typical decile.
            let ward_decile: Vec<f64> = (0..nwards).map(|_| rng.random_range(1.0..10.99)).collect();
            for i in 0..n {
                let ward = first_ward + i % nwards;
                let d = (ward_decile[ward - first_ward] + rng.random_range(-2.0..2.0)).clamp(1.0, 10.99) as u8;
                let rank = (u32::from(d) - 1) * 3284 + rng.random_range(1..=3284);
                let code = format!("E01{:06}", LSOA_BASE + lsoas.len() as u32);
                let size: f64 = rng.random_range(1100.0..2200.0);
                let base_pop = (0..=MAX_AGE).map(|a| (size * age_weight(a) / AGE_WEIGHT_SUM).round() as u32).collect();
                lsoas.push(Lsoa {
                    code,
                    name: format!("{name} {:03}{}", i / 4 + 1, (b'A' + (i % 4) as u8) as char),
                    ward,
                    la,
                    decile: d,
                    rank,
                    base_pop,
                });
            }
        }
        // Ranks must be unique across the country; shuffle collisions away by
        // re-ranking within the generated set while keeping deciles.
        let mut order: Vec<usize> = (0..lsoas.len()).collect();
        order.shuffle(&mut rng);
        order.sort_by_key(|i| lsoas[*i].rank);
        for (pos, i) in order.iter().enumerate() {
            let l = &mut lsoas[*i];
            l.rank = (u32::from(l.decile) - 1) * 3284 + 1 + (pos as u32 % 3284);
        }
        let pop_years = (c.first_fy - 1..c.last_fy()).collect();
        Geography { las, wards, lsoas, pop_years }
    }

    pub fn focus_las(&self) -> Vec<&La> {
        self.las.iter().filter(|l| l.focus).collect()
    }

    pub fn is_focus(&self, lsoa: usize) -> bool {
        self.las[self.lsoas[lsoa].la].focus
    }

    /// Population of one LSOA, age and mid-year: the base grows 0.6% a year.
    pub fn population(&self, lsoa: usize, age: usize, year: i32) -> u32 {
        let growth = 1.0 + 0.006 * f64::from(year - self.pop_years[0]);
        (f64::from(self.lsoas[lsoa].base_pop[age]) * growth).round() as u32
    }

    /// All residents of one LSOA at a mid-year.
    pub fn residents(&self, lsoa: usize, year: i32) -> u64 {
        (0..=MAX_AGE).map(|a| u64::from(self.population(lsoa, a, year))).sum()
    }

    /// The mid-year estimate used for a financial year: the nearest
    /// available, the earlier on a tie.
    pub fn pop_year_for(&self, fy_start: i32) -> i32 {
        *self.pop_years.iter().min_by_key(|y| ((**y - fy_start).abs(), **y)).expect("at least one population year")
    }

    /// Relative offending weight of an LSOA: violence concentrates in
    /// deprived areas (about nine times more in decile 1 than decile 10).
    pub fn violence_weight(&self, lsoa: usize) -> f64 {
        (-0.25 * f64::from(self.lsoas[lsoa].decile - 1)).exp()
    }
}

const AGE_WEIGHT_SUM: f64 = 20.0 * 1.0 + 20.0 * 1.25 + 20.0 * 1.05 + 15.0 * 0.8 + 15.0 * 0.45 + 0.3;

fn age_weight(a: usize) -> f64 {
    match a {
        0..=19 => 1.0,
        20..=39 => 1.25,
        40..=59 => 1.05,
        60..=74 => 0.8,
        75..=89 => 0.45,
        _ => 0.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let c = CityConfig::default();
        let a = Geography::build(&c);
        let b = Geography::build(&c);
        assert_eq!(a.lsoas.len(), 120 + 4 * 60);
        assert_eq!(a.lsoas[7].code, b.lsoas[7].code);
        assert_eq!(a.lsoas[7].decile, b.lsoas[7].decile);
        let mut ranks: Vec<u32> = a.lsoas.iter().map(|l| l.rank).collect();
        ranks.sort();
        ranks.dedup();
        assert_eq!(ranks.len(), a.lsoas.len());
        assert!(a.lsoas.iter().all(|l| (1..=10).contains(&l.decile) && l.rank.div_ceil(3284) == u32::from(l.decile)));
        assert_eq!(a.pop_year_for(2023), 2022);
        assert_eq!(a.pop_year_for(2019), 2019);
        let total: u32 = (0..=MAX_AGE).map(|age| a.population(0, age, 2019)).sum();
        assert!((1000..2400).contains(&total), "{total}");
    }
}
