//! D2, from the generator's call-outs: assault call-outs (latest version)
//! per IMD decile of the focus area's LSOAs, with the decile's residents.

use super::{fy_label, fy_of};
use crate::City;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct D2Row {
    pub period: String,
    pub imd_decile: u8,
    pub lsoas: u64,
    pub callouts: u64,
    pub weapon_callouts: u64,
    pub population: u64,
}

pub(super) fn d2(city: &City) -> Vec<D2Row> {
    let geo = &city.geo;
    let mut per_lsoa: HashMap<(i32, usize), (u64, u64)> = HashMap::new();
    for c in &city.ambulance {
        let (assault, weapon) = c.latest();
        if let (true, Some(i)) = (assault, c.lsoa) {
            let e = per_lsoa.entry((fy_of(c.at.date()), i)).or_default();
            *e = (e.0 + 1, e.1 + u64::from(weapon));
        }
    }
    let mut out = Vec::new();
    for fy in city.config.first_fy..=city.config.last_fy() {
        let year = geo.pop_year_for(fy);
        let mut deciles: BTreeMap<u8, D2Row> = BTreeMap::new();
        for (i, l) in geo.lsoas.iter().enumerate().filter(|(i, _)| geo.is_focus(*i)) {
            let (n, weapon) = per_lsoa.get(&(fy, i)).copied().unwrap_or_default();
            let pop = geo.residents(i, year);
            let row = deciles.entry(l.decile).or_insert_with(|| D2Row {
                period: fy_label(fy),
                imd_decile: l.decile,
                lsoas: 0,
                callouts: 0,
                weapon_callouts: 0,
                population: 0,
            });
            row.lsoas += 1;
            row.callouts += n;
            row.weapon_callouts += weapon;
            row.population += pop;
        }
        out.extend(deciles.into_values());
    }
    out
}
