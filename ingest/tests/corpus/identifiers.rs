//! Cases of the hostile corpus for raw identifiers, systematic faults and
//! domain values (`tests/tools/hostile_identifiers.py` wrote the files):
//! identifiers that once reached the lake, identifiers once treated as an
//! ordinary bad row, files wrong in a way every row shares, and values real
//! systems write that were once refused. `PLANTED` names what must never be
//! repeated in any receipt, quarantine file or log.

use super::{ACC, AWR, Case, NONE, RAW, REJ, c};

const SYS: (u64, usize, &str) = (0, 0, "the file has a systematic fault and was refused whole; nothing from it was published");

pub const CASES: &[Case] = &[
    // Identifiers that once reached the lake: refused whole now.
    c(
        "census_upn_record_ids.csv",
        REJ,
        (10, 0, 0, 0),
        &[RAW, (0, 1, "(record_id) 10 of 10 values of this shape in this column look like a unique pupil number")],
    ),
    c(
        "census_upn_in_school.csv",
        REJ,
        (10, 0, 0, 0),
        &[RAW, (0, 7, "(school) 1 of 1 values of this shape in this column look like a unique pupil number")],
    ),
    c("census_postcode_in_school_name.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 7, "(school) holds [postcode]")]),
    c("census_email_in_school.csv", REJ, (10, 0, 1, 0), &[RAW, (7, 7, "(school) holds [email address]")]),
    c("census_phone_in_school.csv", REJ, (10, 0, 1, 0), &[RAW, (8, 7, "(school) holds [telephone number]")]),
    c("census_dob_in_school.csv", REJ, (10, 0, 1, 0), &[RAW, (4, 7, "(school) holds [date of birth]")]),
    c("census_ni_number_in_school.csv", REJ, (10, 0, 1, 0), &[RAW, (9, 7, "(school) holds [National Insurance number]")]),
    c("suspensions_nhs_spaced_in_school.csv", REJ, (10, 0, 1, 0), &[RAW, (5, 7, "(school) holds [NHS number]")]),
    c("attendances_nhs_spaced_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 8, "(location_description) holds [NHS number]")]),
    c("attendances_nhs_dotted_record_id.csv", REJ, (10, 0, 1, 0), &[RAW, (4, 1, "(record_id) holds [NHS number]")]),
    c("attendances_nhs_plain_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (8, 8, "(location_description) holds [NHS number]")]),
    c("attendances_postcode_in_sentence.csv", REJ, (10, 0, 1, 0), &[RAW, (9, 8, "(location_description) holds [postcode]")]),
    c("attendances_house_number_address.csv", REJ, (10, 0, 1, 0), &[RAW, (5, 8, "(location_description) holds [street address]")]),
    c("attendances_flat_number.csv", REJ, (10, 0, 1, 0), &[RAW, (5, 8, "(location_description) holds [street address]")]),
    c("attendances_dob_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (7, 8, "(location_description) holds [date of birth]")]),
    c("attendances_email_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (3, 8, "(location_description) holds [email address]")]),
    c("attendances_mobile_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (10, 8, "(location_description) holds [telephone number]")]),
    c("attendances_international_phone_site.csv", REJ, (10, 0, 1, 0), &[RAW, (4, 3, "(site_code) holds [telephone number]")]),
    c("attendances_upn_in_description.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 8, "(location_description) holds [unique pupil number]")]),
    c("offences_email_record_id.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 1, "(record_id) holds [email address]")]),
    c(
        "asb_nhs_plain_record_ids.csv",
        REJ,
        (6, 0, 0, 0),
        &[RAW, (0, 1, "(record_id) 6 of 6 values of this shape in this column look like an NHS number")],
    ),
    c("2024-03-house-number-location.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 7, "(location) holds [street address]")]),
    c("2024-03-nhs-in-context.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 12, "(context) holds [NHS number]")]),
    c("commitments_email_owner.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 5, "(owner) holds [email address]")]),
    c("commitments_phone_in_title.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 3, "(title) holds [telephone number]")]),
    c("responses_postcode_in_area_code.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 4, "(area_code) holds [postcode]")]),
    // Identifiers once treated as an ordinary bad row: a person column holds
    // a pseudonym or nothing, and a typed column holds no identifier.
    c("census_name_in_pupil_id.csv", REJ, (10, 0, 1, 0), &[RAW, (5, 3, "(pupil_id) holds [not a pseudonym]")]),
    c("census_nhs_wrong_check_in_pupil_id.csv", REJ, (10, 0, 1, 0), &[RAW, (10, 3, "(pupil_id) holds [10-digit number]")]),
    c("offences_name_in_person_id.csv", REJ, (10, 0, 1, 0), &[RAW, (7, 9, "(person_id) holds [not a pseudonym]")]),
    c("offences_nhs_wrong_check_in_person_id.csv", REJ, (10, 0, 1, 0), &[RAW, (8, 9, "(person_id) holds [10-digit number]")]),
    c("offences_truncated_pseudonym.csv", REJ, (10, 0, 1, 0), &[RAW, (9, 9, "(person_id) holds [not a pseudonym]")]),
    c("offences_crime_number_in_crime_ref.csv", REJ, (10, 0, 1, 0), &[RAW, (4, 3, "(crime_ref) holds [not a pseudonym]")]),
    c("outcomes_name_in_child_id.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 3, "(child_id) holds [not a pseudonym]")]),
    c("screenings_postcode_in_child_id.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 3, "(child_id) holds [postcode]")]),
    c("offences_postcode_in_offence_lsoa.csv", REJ, (10, 0, 1, 0), &[RAW, (5, 7, "(offence_lsoa) holds [postcode]")]),
    c("offences_postcode_in_home_lsoa.csv", REJ, (10, 0, 1, 0), &[RAW, (6, 12, "(home_lsoa) holds [postcode]")]),
    c("offences_nhs_number_in_age.csv", REJ, (10, 0, 1, 0), &[RAW, (10, 10, "(age) holds [NHS number]")]),
    c("attendances_nhs_number_in_age.csv", REJ, (10, 0, 1, 0), &[RAW, (7, 10, "(age) holds [NHS number]")]),
    c("attendances_phone_in_age.csv", REJ, (10, 0, 1, 0), &[RAW, (7, 10, "(age) holds [telephone number]")]),
    // Headers that name or hold an identifier.
    c("census_header_legal_name.csv", REJ, NONE, &[(1, 9, "(legal_name) column looks like a raw identifier (name)")]),
    c("census_header_former_upn.csv", REJ, NONE, &[(1, 9, "(former_upn) column looks like a raw identifier (unique pupil number)")]),
    c("attendances_header_nhs_number_cell.csv", REJ, NONE, &[(1, 12, "([NHS number]) the header holds [NHS number]")]),
    // Systematic faults: every row shares them, so the file is refused.
    c(
        "census_scientific_record_ids.csv",
        REJ,
        (10, 0, 0, 0),
        &[SYS, (4, 1, "(record_id) ids in scientific notation (like 1.2E+11), 3 of them")],
    ),
    c(
        "offences_scientific_record_ids.csv",
        REJ,
        (10, 0, 0, 0),
        &[SYS, (6, 1, "(record_id) ids in scientific notation (like 1.2E+11), 1 of them")],
    ),
    c(
        "census_month_first_dates.csv",
        REJ,
        (10, 0, 1, 0),
        &[
            SYS,
            (2, 8, "(census_date) dates in this column are month-first (MM/DD/YYYY): 1 only make sense"),
            (2, 8, "(census_date) `01/18/2024` is not a date"),
        ],
    ),
    c(
        "offences_month_first_dates.csv",
        REJ,
        (10, 0, 1, 0),
        &[
            SYS,
            (2, 5, "(committed_at) dates in this column are month-first"),
            (2, 5, "(committed_at) `02/13/2024 21:15` is not a date and time"),
        ],
    ),
    c(
        "attendances_conflicting_rows.csv",
        REJ,
        (11, 0, 0, 0),
        &[
            (0, 0, "1 row repeats a record with different content"),
            (12, 0, "record `R-03` version 1 is also on line 4 with different content"),
        ],
    ),
    c("attendances_identical_rows.csv", ACC, (11, 10, 0, 1), &[]),
    // Spreadsheet formulas: the row is refused (and neutralised in the quarantine).
    c("census_formula_school.csv", AWR, (10, 9, 1, 0), &[(6, 7, "(school) value starts with `=`")]),
    c("census_formula_record_id.csv", AWR, (10, 9, 1, 0), &[(8, 1, "(record_id) record id starts with `@`")]),
    c("attendances_formula_in_description.csv", AWR, (10, 9, 1, 0), &[(7, 8, "(location_description) value starts with `=`")]),
    c("attendances_free_text_too_long.csv", AWR, (10, 9, 1, 0), &[(7, 8, "(location_description) free text longer than 1000 characters")]),
    // Domain values real systems write: accepted and mapped.
    c("census_upper_case_pseudonyms.csv", ACC, (10, 10, 0, 0), &[]),
    c("offences_upper_case_pseudonyms.csv", ACC, (10, 10, 0, 0), &[]),
    c("census_scottish_and_welsh_homes.csv", ACC, (10, 10, 0, 0), &[]),
    c("outcomes_scottish_home.csv", ACC, (10, 10, 0, 0), &[]),
    c("census_lower_case_lsoa.csv", ACC, (10, 10, 0, 0), &[]),
    c("offences_lower_case_lsoa.csv", ACC, (10, 10, 0, 0), &[]),
    c("census_nhs_sex_codes.csv", ACC, (10, 10, 0, 0), &[]),
    c("attendances_sex_x_not_known.csv", ACC, (10, 10, 0, 0), &[]),
    c("commitments_future_due_date.csv", ACC, (10, 10, 0, 0), &[]),
    // Plausibility: one bad row each.
    c("census_placeholder_date.csv", AWR, (10, 9, 1, 0), &[(7, 8, "(census_date) 1900-01-01 is a placeholder")]),
    c("offences_excel_placeholder_date.csv", AWR, (10, 9, 1, 0), &[(5, 17, "(outcome_date) 1899-12-30 is a placeholder")]),
    c(
        "census_2024-03-01_after_extract_date.csv",
        AWR,
        (10, 9, 1, 0),
        &[(7, 8, "(census_date) 2024-05-15 is after the extract's date (2024-03-01)")],
    ),
    c(
        "offences_2024-10-31_after_extract_date.csv",
        AWR,
        (10, 9, 1, 0),
        &[(4, 6, "(recorded_date) 2024-11-15 is after the extract's date (2024-10-31)")],
    ),
    c("offences_charged_under_ten.csv", AWR, (10, 9, 1, 0), &[(3, 10, "(age) 8 is under the age of criminal responsibility (10)")]),
    c("outcomes_under_ten.csv", AWR, (10, 9, 1, 0), &[(6, 4, "(age) 9 is under the age of criminal responsibility (10)")]),
    c("suspensions_sessions_over_maximum.csv", AWR, (10, 9, 1, 0), &[(5, 9, "(sessions) 120 is over the maximum of 90")]),
];

/// Identifiers planted in corpus files (old and new), per file, from
/// `tests/hostile/planted.tsv`: none may appear in any receipt, quarantine
/// file or log, in any case or spacing.
pub fn planted() -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile/planted.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (f, v) = l.split_once('\t').expect("file<TAB>value");
            (f.to_string(), v.to_string())
        })
        .collect()
}
