//! What disclosure control needs to know of each measure, next to its SQL:
//! which columns count people or events, how derived figures are computed
//! from them, and every linear relation an intruder can use, within the
//! measure and with other measures (see [`crate::disclosure::structure`]).
//!
//! The tests check that every count column is in a relation or says why
//! not, and that every relation holds, with instances, on the exact numbers
//! of a demo lake: a declaration cannot drift from the SQL unnoticed.

use crate::disclosure::structure::{K, Relation, Rest, Sel, t};
use crate::disclosure::time::{InTime, Of};
use crate::disclosure::{Derived, Spec};

const H1V: &str = "measure_h1";
const H2V: &str = "measure_h2";
const H3V: &str = "measure_h3";
const H4V: &str = "measure_h4";
const H5V: &str = "measure_h5";
const V1V: &str = "measure_v1";
const V2V: &str = "measure_v2";
const D1V: &str = "measure_d1";
const D1P: &str = "measure_d1_public";
const D2V: &str = "measure_d2";
const H1P: &str = "measure_h1_public";
const Y1V: &str = "measure_y1";
const C1V: &str = "measure_c1";
const A1V: &str = "measure_a1";
const A1H: &str = "measure_a1_hour_day";
const A1M: &str = "measure_a1_method_location";
const P1V: &str = "measure_p1";

const PP: &[K] = &[K::C("period"), K::C("period_type")];
const PP_AREA: &[K] = &[K::C("period"), K::C("period_type"), K::C("area_code")];
const PP_CAT: &[K] = &[K::C("period"), K::C("period_type"), K::C("category")];
const PP_AREA_CAT: &[K] = &[K::C("period"), K::C("period_type"), K::C("area_code"), K::C("category")];
const PREV_AREA_CAT: &[K] = &[K::C("previous_period"), K::C("period_type"), K::C("area_code"), K::C("category")];
const PREV_AREA: &[K] = &[K::C("previous_period"), K::C("period_type"), K::C("area_code")];
const FOCUS: &[(&str, Sel)] = &[("area_code", Sel::Is("focus"))];
const FOCUS_LAS: &[(&str, Sel)] = &[("area_code", Sel::FocusLa)];

/// A count of the row's own period (see [`crate::disclosure::time`]).
const fn each(column: &'static str) -> InTime {
    InTime { column, base: column, of: Of::Row }
}

/// The same count over the row's previous period.
const fn before(column: &'static str, base: &'static str) -> InTime {
    InTime { column, base, of: Of::Previous }
}

/// `total = parts` over one column, with the same keys and filters per side.
macro_rules! sum {
    ($name:literal, $view:expr, $col:literal, $keys:expr, $total:expr, $parts:expr) => {
        Relation { name: $name, total: &[t($view, $col, $keys, $total)], parts: &[t($view, $col, $keys, $parts)], rest: Rest::Exact }
    };
}

/// One column within another of the same row, with the named remainder.
macro_rules! within {
    ($name:literal, $view:expr, $part:literal, $whole:literal, $keys:expr, $rest:expr) => {
        Relation { name: $name, total: &[t($view, $whole, $keys, &[])], parts: &[t($view, $part, $keys, &[])], rest: $rest }
    };
}

pub const H1: Spec = Spec {
    in_time: &[each("offences"), before("previous_offences", "offences")],
    counts: &["offences", "previous_offences"],
    derived: &[
        ("rate_per_1000", Derived::Rate { count: "offences", population: "population", per: 1000.0 }),
        ("change", Derived::Change { now: "offences", before: "previous_offences" }),
        ("change_pct", Derived::ChangePct { now: "offences", before: "previous_offences" }),
    ],
    keys: &["area_code", "category"],
    relations: &[
        sum!(
            "H1 categories add up to the total",
            H1V,
            "offences",
            PP_AREA,
            &[("category", Sel::Is("total"))],
            &[("category", Sel::Not(&["total", "asb"]))]
        ),
        sum!(
            "H1 previous categories add up to the total",
            H1V,
            "previous_offences",
            PP_AREA,
            &[("category", Sel::Is("total"))],
            &[("category", Sel::Not(&["total", "asb"]))]
        ),
        sum!("H1 focus area is its local authorities", H1V, "offences", PP_CAT, FOCUS, FOCUS_LAS),
        sum!("H1 focus area is its local authorities (previous)", H1V, "previous_offences", PP_CAT, FOCUS, FOCUS_LAS),
        Relation {
            name: "H1 previous period's offences",
            total: &[t(H1V, "previous_offences", PREV_AREA_CAT, &[])],
            parts: &[t(H1V, "offences", PP_AREA_CAT, &[])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

const PA: &[K] = &[K::C("period"), K::C("area_code")];

pub const H2: Spec = Spec {
    in_time: &[],
    counts: &["homicides", "previous_homicides", "homicides_3y"],
    derived: &[
        ("rate_per_million", Derived::Rate { count: "homicides", population: "population", per: 1e6 }),
        ("change", Derived::Change { now: "homicides", before: "previous_homicides" }),
        ("rate_3y_per_million", Derived::Rate { count: "homicides_3y", population: "population_3y", per: 1e6 }),
    ],
    keys: &["area_code"],
    relations: &[
        Relation {
            name: "H2 homicides are H1's homicide category",
            total: &[t(H2V, "homicides", PA, &[])],
            parts: &[t(H1V, "offences", PA, &[("period_type", Sel::Is("financial_year")), ("category", Sel::Is("homicide"))])],
            rest: Rest::Exact,
        },
        Relation {
            name: "H2 previous year's homicides",
            total: &[t(H2V, "previous_homicides", PA, &[])],
            parts: &[t(H2V, "homicides", &[K::YearsOn("period", 1), K::C("area_code")], &[])],
            rest: Rest::Exact,
        },
        Relation {
            name: "H2 three years add up",
            total: &[t(H2V, "homicides_3y", PA, &[])],
            parts: &[
                t(H2V, "homicides", PA, &[]),
                t(H2V, "homicides", &[K::YearsOn("period", 1), K::C("area_code")], &[]),
                t(H2V, "homicides", &[K::YearsOn("period", 2), K::C("area_code")], &[]),
            ],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

const PP1: &[K] = &[K::C("period"), K::C("period_type")];

pub const H3: Spec = Spec {
    in_time: &[each("knife_offences"), each("knife_offences_victim_under_25"), before("previous_knife_offences", "knife_offences")],
    counts: &["knife_offences", "knife_offences_victim_under_25", "previous_knife_offences"],
    derived: &[
        ("rate_per_1000", Derived::Rate { count: "knife_offences", population: "population", per: 1000.0 }),
        (
            "rate_under_25_per_1000",
            Derived::Rate { count: "knife_offences_victim_under_25", population: "population_under_25", per: 1000.0 },
        ),
        ("change", Derived::Change { now: "knife_offences", before: "previous_knife_offences" }),
        ("change_pct", Derived::ChangePct { now: "knife_offences", before: "previous_knife_offences" }),
    ],
    keys: &["area_code"],
    relations: &[
        sum!("H3 focus area is its local authorities", H3V, "knife_offences", PP1, FOCUS, FOCUS_LAS),
        sum!("H3 focus area is its local authorities (under 25)", H3V, "knife_offences_victim_under_25", PP1, FOCUS, FOCUS_LAS),
        sum!("H3 focus area is its local authorities (previous)", H3V, "previous_knife_offences", PP1, FOCUS, FOCUS_LAS),
        within!(
            "H3 under 25 within all",
            H3V,
            "knife_offences_victim_under_25",
            "knife_offences",
            PP_AREA,
            Rest::Count("knife offences with no victim under 25")
        ),
        Relation {
            name: "H3 previous period's offences",
            total: &[t(H3V, "previous_knife_offences", PREV_AREA, &[])],
            parts: &[t(H3V, "knife_offences", PP_AREA, &[])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

pub const H4: Spec = Spec {
    in_time: &[
        each("attendances"),
        each("attendances_under_25"),
        each("attendances_all_residences"),
        before("previous_attendances", "attendances"),
    ],
    counts: &["attendances", "attendances_under_25", "attendances_all_residences", "previous_attendances"],
    derived: &[
        ("rate_per_100000", Derived::Rate { count: "attendances", population: "population", per: 1e5 }),
        ("rate_under_25_per_100000", Derived::Rate { count: "attendances_under_25", population: "population_under_25", per: 1e5 }),
        ("change", Derived::Change { now: "attendances", before: "previous_attendances" }),
    ],
    keys: &["area_code"],
    relations: &[
        sum!("H4 focus area is its local authorities", H4V, "attendances", PP1, FOCUS, FOCUS_LAS),
        sum!("H4 focus area is its local authorities (under 25)", H4V, "attendances_under_25", PP1, FOCUS, FOCUS_LAS),
        sum!("H4 focus area is its local authorities (previous)", H4V, "previous_attendances", PP1, FOCUS, FOCUS_LAS),
        within!(
            "H4 under 25 within all",
            H4V,
            "attendances_under_25",
            "attendances",
            PP_AREA,
            Rest::Count("attendances aged 25 or over or of unknown age")
        ),
        Relation {
            name: "H4 all residences",
            total: &[t(H4V, "attendances_all_residences", PP1, &[("area_type", Sel::Is("focus"))])],
            parts: &[t(H4V, "attendances", PP1, &[("area_type", Sel::Is("la"))])],
            rest: Rest::Count("attendances of people living outside the region or at an unknown address"),
        },
        Relation {
            name: "H4 previous period's attendances",
            total: &[t(H4V, "previous_attendances", PREV_AREA, &[])],
            parts: &[t(H4V, "attendances", PP_AREA, &[])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

const PP_GROUP: &[K] = &[K::C("period"), K::C("period_type"), K::C("offence_group")];
const NOT_BOTH: &[(&str, Sel)] = &[("offence_group", Sel::Not(&["homicide_and_serious_assault"]))];

pub const H5: Spec = Spec {
    in_time: &[each("focus_offences"), each("region_offences")],
    counts: &["focus_offences", "region_offences"],
    derived: &[("focus_share_pct", Derived::Pct { num: "focus_offences", den: "region_offences" })],
    keys: &["offence_group"],
    relations: &[
        sum!(
            "H5 groups add up to their union",
            H5V,
            "focus_offences",
            PP1,
            &[("offence_group", Sel::Is("homicide_and_serious_assault"))],
            NOT_BOTH
        ),
        sum!(
            "H5 groups add up to their union (region)",
            H5V,
            "region_offences",
            PP1,
            &[("offence_group", Sel::Is("homicide_and_serious_assault"))],
            NOT_BOTH
        ),
        Relation {
            name: "H5 focus offences are H1's focus categories",
            total: &[t(H5V, "focus_offences", PP_GROUP, NOT_BOTH)],
            parts: &[t(H1V, "offences", PP_CAT, FOCUS)],
            rest: Rest::Exact,
        },
        Relation {
            name: "H5 region offences are H1's local authorities",
            total: &[t(H5V, "region_offences", PP_GROUP, NOT_BOTH)],
            parts: &[t(H1V, "offences", PP_CAT, &[("area_type", Sel::Is("la"))])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

pub const V1: Spec = Spec {
    in_time: &[each("victims"), each("victims_age_unknown")],
    counts: &["victims", "victims_age_unknown"],
    derived: &[
        (
            "pct",
            Derived::PctOfTotal { num: "victims", group_by: &["period", "period_type", "offence_group"], label: "age_band", total: "all" },
        ),
        ("median_age", Derived::Shown(&["victims"])),
        ("lower_quartile", Derived::Shown(&["victims"])),
        ("upper_quartile", Derived::Shown(&["victims"])),
    ],
    keys: &["offence_group", "age_band"],
    relations: &[sum!(
        "V1 age bands add up to all",
        V1V,
        "victims",
        PP_GROUP,
        &[("age_band", Sel::Is("all"))],
        &[("age_band", Sel::Not(&["all"]))]
    )],
    standalone: &[("victims_age_unknown", "victims of unknown age are counted in no other published cell")],
};

const PP_AG: &[K] = &[K::C("period"), K::C("period_type"), K::C("area_group")];

pub const V2: Spec = Spec {
    in_time: &[each("victims_home_known"), each("victims_from_outside"), each("victims_home_unknown")],
    counts: &["victims_home_known", "victims_from_outside", "victims_home_unknown"],
    derived: &[("pct_from_outside", Derived::Pct { num: "victims_from_outside", den: "victims_home_known" })],
    keys: &["area_group"],
    relations: &[within!(
        "V2 from outside within home known",
        V2V,
        "victims_from_outside",
        "victims_home_known",
        PP_AG,
        Rest::Count("victims living in the area")
    )],
    standalone: &[("victims_home_unknown", "victims with no home recorded are counted in no other published cell")],
};

pub const D1: Spec = Spec {
    in_time: &[each("offences")],
    counts: &["offences", "offences_in_rate"],
    derived: &[("rate_per_1000", Derived::Rate { count: "offences_in_rate", population: "population", per: 1000.0 })],
    keys: &["imd_decile"],
    relations: &[
        Relation {
            name: "D1 deciles add up to H1's focus total",
            total: &[t(H1V, "offences", PP, &[("area_code", Sel::Is("focus")), ("category", Sel::Is("total"))])],
            parts: &[t(D1V, "offences", PP, &[])],
            rest: Rest::Exact,
        },
        within!(
            "D1 offences in the rate within all",
            D1V,
            "offences_in_rate",
            "offences",
            &[K::C("period"), K::C("period_type"), K::C("imd_decile")],
            Rest::Count("offences in LSOAs without a population")
        ),
    ],
    standalone: &[],
};

pub const D2: Spec = Spec {
    in_time: &[each("callouts"), each("weapon_callouts")],
    counts: &["callouts", "weapon_callouts", "callouts_in_rate"],
    derived: &[("rate_per_100k", Derived::Rate { count: "callouts_in_rate", population: "population", per: 100_000.0 })],
    keys: &["imd_decile"],
    relations: &[
        within!(
            "D2 weapon call-outs within all",
            D2V,
            "weapon_callouts",
            "callouts",
            &[K::C("period"), K::C("period_type"), K::C("imd_decile")],
            Rest::Count("assault call-outs without a weapon")
        ),
        within!(
            "D2 call-outs in the rate within all",
            D2V,
            "callouts_in_rate",
            "callouts",
            &[K::C("period"), K::C("period_type"), K::C("imd_decile")],
            Rest::Count("call-outs in LSOAs without a population")
        ),
    ],
    standalone: &[],
};

const P: &[K] = &[K::C("period")];

pub const Y1: Spec = Spec {
    in_time: &[],
    counts: &[
        "people",
        "offences",
        "male",
        "offences_robbery",
        "offences_violence_against_the_person",
        "offences_drug_offences",
        "offences_other",
    ],
    derived: &[("pct_male", Derived::Pct { num: "male", den: "people" }), ("mean_age_first_charge", Derived::Shown(&["people"]))],
    keys: &[],
    relations: &[
        Relation {
            name: "Y1 offences by group add up",
            total: &[t(Y1V, "offences", P, &[])],
            parts: &[
                t(Y1V, "offences_robbery", P, &[]),
                t(Y1V, "offences_violence_against_the_person", P, &[]),
                t(Y1V, "offences_drug_offences", P, &[]),
                t(Y1V, "offences_other", P, &[]),
            ],
            rest: Rest::Exact,
        },
        within!("Y1 male within people", Y1V, "male", "people", P, Rest::Count("people not recorded as male")),
    ],
    standalone: &[],
};

const PF: &[K] = &[K::C("period"), K::C("factor")];
const NOT_ACE: &[(&str, Sel)] = &[("factor", Sel::Not(&["ace_6_plus"]))];

pub const C1: Spec = Spec {
    in_time: &[],
    counts: &["cohort_n", "cohort_denominator", "comparison_n", "comparison_denominator"],
    derived: &[
        ("cohort_pct", Derived::Pct { num: "cohort_n", den: "cohort_denominator" }),
        ("comparison_pct", Derived::Pct { num: "comparison_n", den: "comparison_denominator" }),
        (
            "relative_risk",
            Derived::RelativeRisk {
                num: "cohort_n",
                den: "cohort_denominator",
                cmp_num: "comparison_n",
                cmp_den: "comparison_denominator",
            },
        ),
    ],
    keys: &["factor"],
    relations: &[
        // Holds for the default cohort (Y1's); with --cohort-sql it does
        // not, and instantiation leaves it out as a violation.
        Relation {
            name: "C1 cohort is Y1's people",
            total: &[t(C1V, "cohort_denominator", PF, NOT_ACE)],
            parts: &[t(Y1V, "people", &[K::C("period"), K::Any], &[])],
            rest: Rest::Exact,
        },
        Relation {
            name: "C1 comparison population is the same for every school factor",
            total: &[t(C1V, "comparison_denominator", PF, &[("factor", Sel::Not(&["ace_6_plus", "suspension"]))])],
            parts: &[t(C1V, "comparison_denominator", &[K::C("period"), K::Any], &[("factor", Sel::Is("suspension"))])],
            rest: Rest::Exact,
        },
        within!("C1 cohort with the factor", C1V, "cohort_n", "cohort_denominator", PF, Rest::Count("cohort without the factor")),
        within!(
            "C1 comparison with the factor",
            C1V,
            "comparison_n",
            "comparison_denominator",
            PF,
            Rest::Count("comparison population without the factor")
        ),
        Relation {
            name: "C1 cohort screened for ACEs",
            total: &[t(C1V, "cohort_denominator", P, &[("factor", Sel::Is("suspension"))])],
            parts: &[t(C1V, "cohort_denominator", P, &[("factor", Sel::Is("ace_6_plus"))])],
            rest: Rest::Count("cohort never screened for ACEs"),
        },
        Relation {
            name: "C1 comparison screened for ACEs",
            total: &[t(C1V, "comparison_denominator", P, &[("factor", Sel::Is("suspension"))])],
            parts: &[t(C1V, "comparison_denominator", P, &[("factor", Sel::Is("ace_6_plus"))])],
            rest: Rest::Count("comparison population never screened for ACEs"),
        },
    ],
    standalone: &[],
};

const PP_ITEM: &[K] = &[K::C("period"), K::C("period_type"), K::C("item")];
const ATTENDANCES: &[(&str, Sel)] = &[("item", Sel::Is("attendances"))];

pub const A1: Spec = Spec {
    in_time: &[each("n"), each("denominator")],
    counts: &["n", "denominator"],
    derived: &[("pct_complete", Derived::Pct { num: "n", den: "denominator" })],
    keys: &["item"],
    relations: &[
        Relation {
            name: "A1 every item's denominator is the attendances",
            total: &[t(A1V, "denominator", PP_ITEM, &[])],
            parts: &[t(A1V, "n", &[K::C("period"), K::C("period_type"), K::Any], ATTENDANCES)],
            rest: Rest::Exact,
        },
        Relation {
            name: "A1 field filled within the attendances",
            total: &[t(A1V, "denominator", PP_ITEM, &[("item", Sel::Not(&["attendances"]))])],
            parts: &[t(A1V, "n", PP_ITEM, &[("item", Sel::Not(&["attendances"]))])],
            rest: Rest::Slack("attendances with the field blank"),
        },
        Relation {
            name: "A1 hour by day adds up to the attendances",
            total: &[t(A1V, "n", PP, ATTENDANCES)],
            parts: &[t(A1H, "attendances", PP, &[])],
            rest: Rest::Exact,
        },
        Relation {
            name: "A1 methods add up to the attendances",
            total: &[t(A1V, "n", PP, ATTENDANCES)],
            parts: &[t(A1M, "attendances", PP, &[("location_type", Sel::Is("all"))])],
            rest: Rest::Exact,
        },
    ],
    standalone: &[],
};

pub const A1_HOUR_DAY: Spec = Spec {
    in_time: &[each("attendances")],
    counts: &["attendances"],
    derived: &[],
    keys: &["day", "hour"],
    // Declared with A1: the 168 cells add up to A1's attendances.
    relations: &[],
    standalone: &[],
};

pub const A1_METHOD_LOCATION: Spec = Spec {
    in_time: &[each("attendances")],
    counts: &["attendances"],
    derived: &[],
    keys: &["assault_method", "location_type"],
    relations: &[sum!(
        "A1 locations add up to the method's attendances",
        A1M,
        "attendances",
        &[K::C("period"), K::C("period_type"), K::C("assault_method")],
        &[("location_type", Sel::Is("all"))],
        &[("location_type", Sel::Not(&["all"]))]
    )],
    standalone: &[],
};

const PP_RD: &[K] = &[K::C("period"), K::C("period_type"), K::C("respondents"), K::C("dimension")];
const PP_A: &[K] = &[K::C("period"), K::C("period_type"), K::C("area_code")];
const ALL_SAFE: &[(&str, Sel)] = &[("respondents", Sel::Is("all")), ("dimension", Sel::Is("safe"))];
const YOUNG_SAFE: &[(&str, Sel)] = &[("respondents", Sel::Is("young_people")), ("dimension", Sel::Is("safe"))];

pub const P1: Spec = Spec {
    in_time: &[each("answered"), each("agree")],
    counts: &["answered", "agree"],
    derived: &[("pct_agree", Derived::Pct { num: "agree", den: "answered" })],
    keys: &["area_code", "respondents", "dimension"],
    relations: &[
        sum!("P1 focus area is its local authorities (answered)", P1V, "answered", PP_RD, FOCUS, FOCUS_LAS),
        sum!("P1 focus area is its local authorities (agree)", P1V, "agree", PP_RD, FOCUS, FOCUS_LAS),
        within!(
            "P1 agree within answered",
            P1V,
            "agree",
            "answered",
            &[K::C("period"), K::C("period_type"), K::C("area_code"), K::C("respondents"), K::C("dimension")],
            Rest::Count("respondents who did not agree")
        ),
        Relation {
            name: "P1 young people within all respondents (answered)",
            total: &[t(P1V, "answered", PP_A, ALL_SAFE)],
            parts: &[t(P1V, "answered", PP_A, YOUNG_SAFE)],
            rest: Rest::Count("respondents over 24 or of unknown age"),
        },
        Relation {
            name: "P1 young people within all respondents (agree)",
            total: &[t(P1V, "agree", PP_A, ALL_SAFE)],
            parts: &[t(P1V, "agree", PP_A, YOUNG_SAFE)],
            rest: Rest::Count("respondents over 24 or of unknown age who agree"),
        },
    ],
    standalone: &[],
};

// Macros are in scope for a module declared after them.
mod public;
pub use public::{D1_PUBLIC, H1_PUBLIC};
