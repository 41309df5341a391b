//! People. Young people of the focus area are generated individually with a
//! latent risk that drives everything correlated in the strategy's cohort
//! facts: ACEs, suspensions, exclusions, alternative provision, NEET and
//! being charged with serious violence. Everyone else (adult victims and
//! offenders, young people from elsewhere) is minted on demand.

use crate::CityConfig;
use crate::geography::Geography;
use chrono::{Datelike, NaiveDate};
use rand::Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use vru_model::Sex;
use vru_model::pseudonym::Pseudonymiser;

pub struct Person {
    /// A synthetic NHS number (valid check digit): what a partner holds
    /// before pseudonymising.
    pub raw_id: String,
    pub birth: NaiveDate,
    pub sex: Sex,
    pub home: usize,
    pub risk: f64,
}

impl Person {
    pub fn age_on(&self, d: NaiveDate) -> u8 {
        let mut age = d.year() - self.birth.year();
        if (d.month(), d.day()) < (self.birth.month(), self.birth.day()) {
            age -= 1;
        }
        age.clamp(0, 120) as u8
    }
}

pub struct People {
    pub youths: Vec<Person>,
    /// Youth indices by birth year, with cumulative risk weights for
    /// choosing who is charged.
    by_birth_year: BTreeMap<i32, (Vec<usize>, Vec<f64>)>,
    pseudonymiser: Pseudonymiser,
    pub key_text: String,
    next_raw: AtomicU64,
    /// Young people already charged, serious violence and other offences
    /// apart: many are charged again with the same kind of offence.
    charged: RefCell<[Vec<usize>; 2]>,
}

impl People {
    pub fn build(c: &CityConfig, geo: &Geography) -> Self {
        let mut rng = c.rng(2);
        let key_bytes = vru_model::ids::EventId::derive("synth-key", "", "", c.seed as u32);
        let key_bytes =
            [key_bytes.as_bytes().as_slice(), vru_model::ids::EventId::derive("synth-key-2", "", "", c.seed as u32).as_bytes()].concat();
        let key_text = vru_model::pseudonym::key_text(&key_bytes);
        let pseudonymiser = Pseudonymiser::from_key_text(&key_text).expect("32-byte key");
        let mut people = People {
            youths: Vec::new(),
            by_birth_year: BTreeMap::new(),
            pseudonymiser,
            key_text,
            next_raw: AtomicU64::new(100_000_000),
            charged: RefCell::new([Vec::new(), Vec::new()]),
        };
        // Everyone aged 10-17 at some point of the window.
        for (li, l) in geo.lsoas.iter().enumerate().filter(|(i, _)| geo.is_focus(*i)) {
            let dep = f64::from(10 - l.decile) / 9.0;
            for birth_year in (c.first_fy - 17)..=(c.last_fy() + 1 - 10) {
                let n = l.base_pop[14];
                for _ in 0..n {
                    let birth = NaiveDate::from_yo_opt(birth_year, rng.random_range(1..=365)).expect("valid day");
                    let sex = if rng.random_bool(0.51) { Sex::Male } else { Sex::Female };
                    let u: f64 = rng.random();
                    let v: f64 = rng.random();
                    let male_bonus = if sex == Sex::Male { 1.0 } else { 0.35 };
                    let risk = ((0.75 * u.powi(4) + 0.25 * dep * v) * male_bonus).clamp(0.0, 1.0);
                    let raw_id = people.mint_raw();
                    people.youths.push(Person { raw_id, birth, sex, home: li, risk });
                }
            }
        }
        for (i, p) in people.youths.iter().enumerate() {
            let e = people.by_birth_year.entry(p.birth.year()).or_default();
            e.0.push(i);
            // Risk to the fourth power: a few young people carry most of the
            // charges, as the strategy's cohort (144 people, 305 offences).
            let w = p.risk.powi(4);
            e.1.push(e.1.last().copied().unwrap_or(0.0) + w);
        }
        people
    }

    /// A fresh synthetic NHS number with a valid modulus-11 check digit.
    pub fn mint_raw(&self) -> String {
        loop {
            let n = self.next_raw.fetch_add(1, Ordering::Relaxed);
            let digits: Vec<u32> = format!("{n:09}").chars().map(|c| c.to_digit(10).expect("digit")).collect();
            let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
            let check = match 11 - sum % 11 {
                11 => 0,
                10 => continue,
                c => c,
            };
            return format!("{n:09}{check}");
        }
    }

    pub fn pseudonym(&self, raw: &str) -> String {
        self.pseudonymiser.pseudonym(raw)
    }

    /// Picks a young person of the focus area aged 10-17 on `d`, more likely
    /// the higher their risk; `None` if nobody fits.
    /// A young person charged on `d`; `serious` keeps serious-violence
    /// repeat offending apart from the rest.
    pub fn pick_youth(&self, rng: &mut impl Rng, d: NaiveDate, serious: bool) -> Option<usize> {
        let pool = usize::from(serious);
        // Repeat offending: over half of charges go to someone charged before.
        let again = {
            let charged = &self.charged.borrow()[pool];
            (!charged.is_empty() && rng.random_bool(0.6)).then(|| charged[rng.random_range(0..charged.len())])
        };
        if let Some(i) = again.filter(|i| (10..=17).contains(&self.youths[*i].age_on(d))) {
            return Some(i);
        }
        let first = self.pick_new_youth(rng, d);
        if let Some(i) = first {
            self.charged.borrow_mut()[pool].push(i);
        }
        first
    }

    /// A young person by risk alone, without the repeat-offending pool
    /// (for out-of-court outcomes, which do not make a serious-violence cohort).
    pub(crate) fn pick_new_youth(&self, rng: &mut impl Rng, d: NaiveDate) -> Option<usize> {
        // Charges rise steeply through the teens (the strategy's cohort
        // averages 15.8 years old).
        const AGE_WEIGHTS: [(i32, u32); 8] = [(10, 1), (11, 1), (12, 2), (13, 3), (14, 5), (15, 7), (16, 9), (17, 10)];
        let total: u32 = AGE_WEIGHTS.iter().map(|(_, w)| w).sum();
        for _ in 0..20 {
            let mut x = rng.random_range(0..total);
            let age = AGE_WEIGHTS
                .iter()
                .find(|(_, w)| {
                    if x < *w {
                        true
                    } else {
                        x -= w;
                        false
                    }
                })
                .map_or(17, |(a, _)| *a);
            let birth_year = d.year() - age - i32::from(rng.random_bool(0.5));
            let Some((idx, cum)) = self.by_birth_year.get(&birth_year) else { continue };
            let total = *cum.last()?;
            if total <= 0.0 {
                continue;
            }
            let x = rng.random_range(0.0..total);
            let pos = cum.partition_point(|c| *c <= x).min(idx.len() - 1);
            let i = idx[pos];
            if (10..=17).contains(&self.youths[i].age_on(d)) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ids_are_valid_nhs_numbers() {
        let c = CityConfig { focus_lsoas: 8, other_las: 0, years: 1, ..Default::default() };
        let geo = Geography::build(&c);
        let p = People::build(&c, &geo);
        for _ in 0..50 {
            assert!(vru_model::identifiers::is_nhs_number(&p.mint_raw()));
        }
        assert!(!p.youths.is_empty());
        let d = NaiveDate::from_ymd_opt(2019, 6, 1).unwrap();
        let mut rng = c.rng(99);
        let i = p.pick_youth(&mut rng, d, true).unwrap();
        assert!((10..=17).contains(&p.youths[i].age_on(d)));
    }
}
