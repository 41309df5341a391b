//! The disclosure declarations of the measures over data.police.uk
//! street-level data: months, financial years and calendar years of the
//! same published rows.

use super::{D1P, H1P, PP_CAT};
use crate::disclosure::structure::{K, Relation, Rest, Sel, t};
use crate::disclosure::{Derived, Spec};

pub const D1_PUBLIC: Spec = Spec {
    in_time: &[],
    counts: &["offences"],
    derived: &[("rate_per_1000", Derived::Rate { count: "offences", population: "population", per: 1000.0 })],
    keys: &["imd_decile"],
    relations: &[Relation {
        name: "D1 (public data) deciles within the published total",
        total: &[t(
            H1P,
            "offences",
            &[K::C("period")],
            &[("period_type", Sel::Is("financial_year")), ("area_type", Sel::Is("force")), ("category", Sel::Is("total"))],
        )],
        parts: &[t(D1P, "offences", &[K::C("period")], &[])],
        rest: Rest::Count("published rows without an LSOA or an IMD decile"),
    }],
    standalone: &[],
};

const PUB_AREA: &[K] = &[K::C("period"), K::C("period_type"), K::C("area_type"), K::C("area_name")];

pub const H1_PUBLIC: Spec = Spec {
    in_time: &[],
    counts: &["offences"],
    derived: &[],
    keys: &["area_type", "area_name", "category"],
    relations: &[
        sum!(
            "H1 (public data) categories add up to the total",
            H1P,
            "offences",
            PUB_AREA,
            &[("category", Sel::Is("total"))],
            &[("category", Sel::Not(&["total", "asb"]))]
        ),
        sum!(
            "H1 (public data) forces and local authorities hold the same rows",
            H1P,
            "offences",
            PP_CAT,
            &[("area_type", Sel::Is("force"))],
            &[("area_type", Sel::Is("la"))]
        ),
        Relation {
            name: "H1 (public data) months add up to the year",
            total: &[t(
                H1P,
                "offences",
                &[K::C("period"), K::C("area_type"), K::C("area_name"), K::C("category")],
                &[("period_type", Sel::Is("financial_year"))],
            )],
            parts: &[t(
                H1P,
                "offences",
                &[K::FyOfMonth("period"), K::C("area_type"), K::C("area_name"), K::C("category")],
                &[("period_type", Sel::Is("month"))],
            )],
            rest: Rest::Exact,
        },
        Relation {
            name: "H1 (public data) months add up to the calendar year",
            total: &[t(
                H1P,
                "offences",
                &[K::C("period"), K::C("area_type"), K::C("area_name"), K::C("category")],
                &[("period_type", Sel::Is("calendar_year"))],
            )],
            parts: &[t(
                H1P,
                "offences",
                &[K::YearOfMonth("period"), K::C("area_type"), K::C("area_name"), K::C("category")],
                &[("period_type", Sel::Is("month"))],
            )],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};
