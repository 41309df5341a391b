//! The hostile corpus's case tables: what each file in `tests/hostile/`
//! must end as (status, counts, issue lines). `identifiers` holds the cases
//! for raw identifiers, systematic faults and domain values.

pub mod identifiers;

use vru_model::receipt::Status;

/// `line`, `column`, and a piece of the reason (after the column name).
pub type Expect = (u64, usize, &'static str);

pub struct Case {
    /// The file, in its partner's folder under `tests/hostile/` (see [`path`]).
    pub file: &'static str,
    pub status: Status,
    /// rows_read, rows_published, rows_rejected, rows_duplicate.
    pub counts: (u64, u64, u64, u64),
    pub issues: &'static [Expect],
}

pub const ACC: Status = Status::Accepted;
pub const AWR: Status = Status::AcceptedWithRejections;
pub const REJ: Status = Status::Rejected;
pub const NONE: (u64, u64, u64, u64) = (0, 0, 0, 0);
pub const RAW: Expect = (0, 0, "the file carries raw identifiers and was refused whole; nothing from it was published");
pub const PSEUDO: &str = "`vru pseudonymise`";

pub const fn c(file: &'static str, status: Status, counts: (u64, u64, u64, u64), issues: &'static [Expect]) -> Case {
    Case { file, status, counts, issues }
}

const NHS_IDS: Expect = (0, 1, "(record_id) 12 of 12 values of this shape in this column look like an NHS number [NHS number]");
const NAME_DOB: &[Expect] = &[
    (1, 18, "(forename) column looks like a raw identifier (name)"),
    (1, 19, "(surname) column looks like a raw identifier (name)"),
    (1, 20, "(date_of_birth) column looks like a raw identifier (date of birth)"),
];
const POSTCODE_TEXT: Expect = (11, 8, "(location_description) holds [postcode] (a full UK postcode): raw identifiers must never be sent");
const SHORT_ROWS: &[Expect] = &[(6, 0, "row has 9 fields; the header has 17"), (16, 0, "row has 5 fields; the header has 17")];

pub const CASES: &[Case] = &[
    // Header and structure: the whole file is refused, nothing is read.
    c("offences_missing_column.csv", REJ, NONE, &[(1, 0, "(offence_code) required column is missing")]),
    c("offences_extra_column.csv", REJ, NONE, &[(1, 18, "(notes) unknown column for a offences extract")]),
    c("offences_duplicate_column.csv", REJ, NONE, &[(1, 18, "(age) column appears twice")]),
    c("offences_semicolon.csv", REJ, NONE, &[(1, 1, "contains ';', tab or '|': extracts must be comma-separated")]),
    c("offences_tab.csv", REJ, NONE, &[(1, 1, "contains ';', tab or '|': extracts must be comma-separated")]),
    c("offences_utf16.csv", REJ, NONE, &[(1, 1, "header is not valid UTF-8: save the file as UTF-8 CSV")]),
    c("offences_empty.csv", REJ, NONE, &[(1, 0, "the file is empty: an extract needs a header row")]),
    c("offences_header_only.csv", ACC, NONE, &[(1, 0, "the extract has a header but no rows")]),
    c("crimes_2024-05-31.csv", REJ, NONE, &[(0, 0, "file name must start with one of: offences_*.csv, asb_*.csv")]),
    c("attendances_zipped.csv", REJ, NONE, &[(0, 0, "zip archives are not accepted")]),
    // Encodings, line endings and quoting that must simply work.
    c("offences_bom.csv", ACC, (12, 12, 0, 0), &[]),
    c("offences_crlf.csv", ACC, (12, 12, 0, 0), &[]),
    c("offences_quoted_fields.csv", ACC, (10, 10, 0, 0), &[]),
    c("offences_no_final_newline.csv", ACC, (12, 12, 0, 0), &[]),
    c("asb_bom_quoted_header.csv", ACC, (8, 8, 0, 0), &[]),
    c("attendances_quoted_newline.csv", ACC, (10, 10, 0, 0), &[]),
    c("offences_unknown_lsoa.csv", ACC, (8, 8, 0, 0), &[]),
    c("offences_duplicate_rows.csv", ACC, (15, 13, 0, 2), &[]),
    c(
        "offences_conflicting_duplicate.csv",
        REJ,
        (7, 0, 0, 0),
        &[
            (0, 0, "1 row repeats a record with different content"),
            (8, 0, "record `R-04` version 1 is also on line 5 with different content"),
        ],
    ),
    // One bad row among good ones: quarantined and listed; the rest published.
    c("offences_non_utf8.csv", AWR, (12, 11, 1, 0), &[(8, 1, "(record_id) not valid UTF-8 (bad byte at offset 7")]),
    c("offences_future_date.csv", AWR, (12, 11, 1, 0), &[(6, 5, "(committed_at) 2031-01-01 is in the future")]),
    c(
        "offences_before_1900.csv",
        AWR,
        (12, 11, 1, 0),
        &[(4, 5, "(committed_at) 1899-12-31 is a placeholder systems write for an unknown date")],
    ),
    c("offences_age_minus_one.csv", AWR, (12, 11, 1, 0), &[(9, 10, "(age) -1 is out of range 0-120")]),
    c("offences_age_200.csv", AWR, (12, 11, 1, 0), &[(12, 10, "(age) 200 is out of range 0-120")]),
    c("offences_unknown_offence_code.csv", AWR, (12, 11, 1, 0), &[(5, 4, "(offence_code) `99Z` is not a Home Office offence code")]),
    c(
        "offences_malformed_lsoa.csv",
        AWR,
        (20, 18, 2, 0),
        &[(7, 7, "(offence_lsoa) `E0100000` is not"), (14, 12, "(home_lsoa) `E02000123`")],
    ),
    c("offences_truncated_row.csv", AWR, (12, 11, 1, 0), &[(13, 0, "row has 9 fields; the header has 17")]),
    c("offences_truncated_in_field.csv", AWR, (12, 11, 1, 0), &[(13, 17, "(outcome_date) `2024-1` is not a date")]),
    c("offences_unterminated_quote.csv", AWR, (11, 10, 1, 0), &[(12, 0, "row has 1 fields; the header has 17")]),
    c("offences_nul_padding.csv", AWR, (13, 12, 1, 0), &[(14, 0, "row has 1 fields; the header has 17")]),
    c("offences_nul_in_field.csv", AWR, (12, 11, 1, 0), &[(10, 7, "(offence_lsoa) `E…1 (10 characters)` is not an English or Welsh LSOA")]),
    c("asb_header_repeated.csv", AWR, (15, 14, 1, 0), &[(8, 3, "(incident_at) `i…t (11 characters)` is not a date and time")]),
    c("asb_empty_row.csv", AWR, (12, 11, 1, 0), &[(8, 3, "(incident_at) required value is blank")]),
    c("attendances_bad_row_after_multiline.csv", AWR, (11, 10, 1, 0), &[(9, 6, "(assault_method) `s…g (8 characters)` is not one of")]),
    c("attendances_assault_after_arrival.csv", AWR, (12, 11, 1, 0), &[(7, 5, "(assault_at) 2024-02-10 23:50:00 is after the")]),
    c("outcomes_age_26.csv", AWR, (12, 11, 1, 0), &[(10, 4, "(age) 26 is out of range 0-25")]),
    c("outcomes_unknown_offence_code.csv", AWR, (12, 11, 1, 0), &[(3, 7, "(offence_code) `ZZ9` is not a Home Office offence")]),
    c("suspensions_before_1900.csv", AWR, (12, 11, 1, 0), &[(11, 8, "(start_date) 1899-12-31 is a placeholder")]),
    // The partial-file rule: at most 10% bad rows (strictly more refuses the file).
    c("offences_ten_percent_bad.csv", AWR, (10, 9, 1, 0), &[(6, 10, "(age) `abc` is not a whole number")]),
    c(
        "offences_eleven_percent_bad.csv",
        REJ,
        (9, 0, 1, 0),
        &[(0, 0, "1 of 9 rows (11.1%) are invalid, more than the 10%"), (6, 10, "(age)")],
    ),
    c("offences_unterminated_quote_early.csv", REJ, (2, 0, 1, 0), &[(0, 0, "1 of 2 rows (50.0%) are invalid"), (3, 0, "row has 1 fields")]),
    // Raw identifiers: refused whole, whatever the share of bad rows.
    c("offences_raw_nhs_column.csv", REJ, NONE, &[(1, 18, "(nhs_number) column looks like a raw identifier (NHS number)")]),
    c("offences_raw_postcode_column.csv", REJ, NONE, &[(1, 18, "(home_postcode) column looks like a raw identifier (postcode)")]),
    c("offences_raw_name_dob_columns.csv", REJ, NONE, NAME_DOB),
    c("exclusions_dob_column.csv", REJ, NONE, &[(1, 12, "(dob) column looks like a raw identifier (date of birth)")]),
    c("offences_raw_nhs_in_person_id.csv", REJ, (31, 0, 1, 0), &[RAW, (9, 9, "(person_id) holds [NHS number] (an NHS number)")]),
    c("offences_raw_nhs_record_ids.csv", REJ, (12, 0, 0, 0), &[RAW, NHS_IDS]),
    c("census_raw_upn.csv", REJ, (16, 0, 1, 0), &[RAW, (14, 3, "(pupil_id) holds [unique pupil number] (a unique pupil number)")]),
    c(
        "census_postcodes_in_school.csv",
        REJ,
        (10, 0, 10, 0),
        &[RAW, (2, 7, "(school) holds [postcode] (a full UK postcode)"), (11, 7, "(school) holds [postcode]")],
    ),
    c("attendances_postcode_in_free_text.csv", REJ, (21, 0, 1, 0), &[RAW, POSTCODE_TEXT]),
    // Defects: see the ignored tests at the end.
    c("offences_crlf_bad_row.csv", AWR, (12, 11, 1, 0), &[(7, 7, "(offence_lsoa) `E01XXXXXX` is not an English or Welsh LSOA")]),
    c("asb_cr_line_endings.csv", AWR, (12, 11, 1, 0), &[(5, 4, "(lsoa) `E01XXXXXX` is not an English or Welsh LSOA")]),
    c("asb_blank_lines.csv", AWR, (13, 12, 1, 0), &[(10, 4, "(lsoa) `n…e (7 characters)` is not an English or Welsh LSOA")]),
    c(
        "offences_raw_nhs_record_ids_spaced_header.csv",
        REJ,
        (12, 0, 0, 0),
        &[RAW, (0, 1, "(record_id) 12 of 12 values of this shape in this column look like an NHS number")],
    ),
    c("offences_two_short_rows.csv", AWR, (22, 20, 2, 0), SHORT_ROWS),
];
