//! Detectors for raw identifiers. Partners must pseudonymise before sending;
//! these catch the mistakes that happen anyway (an NHS number left in an id
//! column, a postcode typed into a free-text field, a `date_of_birth`
//! column, a name in a pseudonym column) so that such a file is refused
//! before anything reaches Kafka, and so that nothing we write about a
//! refused value repeats it.
//!
//! Every value of every column is scanned ([`scan`]). Where a value sits
//! ([`Place`]) decides how much evidence refuses the file: a postcode or an
//! NHS number written `943 476 5919` is never anything else, but one
//! 10-digit record id in eleven passes the NHS check digit by chance, so in
//! id and ordinary text columns such weak evidence is judged over the whole
//! column ([`profile::FileProfile`]).

mod numbers;
mod patterns;
pub mod profile;

pub use numbers::nhs_check;
pub use patterns::{contains_postcode, is_postcode, upn};

/// What a value was found to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finding {
    NhsNumber,
    /// 10 digits shaped like an NHS number whose check digit fails.
    TenDigitNumber,
    Upn,
    Postcode,
    DateOfBirth,
    Email,
    Phone,
    Address,
    NiNumber,
    /// Anything but a pseudonym in a column that must hold one.
    NotAPseudonym,
}

impl Finding {
    /// How the finding is shown instead of the value.
    pub fn mask(&self) -> &'static str {
        match self {
            Finding::NhsNumber => "[NHS number]",
            Finding::TenDigitNumber => "[10-digit number]",
            Finding::Upn => "[unique pupil number]",
            Finding::Postcode => "[postcode]",
            Finding::DateOfBirth => "[date of birth]",
            Finding::Email => "[email address]",
            Finding::Phone => "[telephone number]",
            Finding::Address => "[street address]",
            Finding::NiNumber => "[National Insurance number]",
            Finding::NotAPseudonym => "[not a pseudonym]",
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Finding::NhsNumber => "an NHS number",
            Finding::TenDigitNumber => "a 10-digit number like an NHS number",
            Finding::Upn => "a unique pupil number",
            Finding::Postcode => "a full UK postcode",
            Finding::DateOfBirth => "a date of birth",
            Finding::Email => "an email address",
            Finding::Phone => "a UK telephone number",
            Finding::Address => "a street address",
            Finding::NiNumber => "a National Insurance number",
            Finding::NotAPseudonym => "a value that is not a pseudonym",
        }
    }
}

/// Where a value sits, which decides what counts as proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A column that must hold a pseudonym (person, crime reference).
    Person,
    /// Text people type: anything identifier-like is refused.
    FreeText,
    /// A partner's record id.
    Id,
    /// Other text: school, provider, site, location names, codes.
    Text,
    /// A typed column (date, number, LSOA, flag...) whose value did not
    /// parse: nothing identifier-like belongs there.
    Typed,
}

/// What one value holds: `strong` refuses the file on its own; `weak` is
/// weighed over the column against how many values have its `shape` (10
/// digits, 13 characters like a UPN, 11 digits from 0), since a check digit
/// passes by chance for a share of any such values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    pub strong: Option<Finding>,
    pub weak: Option<Finding>,
    pub shape: Option<Finding>,
}

/// A pseudonym is the hex of an HMAC-SHA256: 64 hex digits. Upper-case hex
/// is accepted (spreadsheets upper-case things) and stored lower-case.
pub fn is_pseudonym_any_case(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Scans one value. Cheap when the value has no digit and no `@`, which is
/// most text; a pseudonym is never scanned (its hex digits could contain
/// any run of decimal digits).
pub fn scan(value: &str, place: Place) -> Scan {
    let v = value.trim();
    if place == Place::Person {
        return if v.is_empty() || is_pseudonym_any_case(v) {
            Scan::default()
        } else if v.len() > 20 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            // A pseudonym cut short or padded: not one, and any digits in
            // it are hex, not a number of a person.
            Scan { strong: Some(Finding::NotAPseudonym), ..Scan::default() }
        } else {
            Scan { strong: Some(scan(v, Place::FreeText).strong.unwrap_or(Finding::NotAPseudonym)), ..Scan::default() }
        };
    }
    // One pass over the bytes says which detectors can apply at all.
    let (mut digit, mut at, mut alpha, mut spaced, mut hex) = (false, false, false, false, true);
    for b in v.bytes() {
        digit |= b.is_ascii_digit();
        at |= b == b'@';
        alpha |= b.is_ascii_alphabetic();
        spaced |= b == b' ';
        hex &= b.is_ascii_hexdigit();
    }
    if !(digit || at) || (hex && v.len() == 64) {
        return Scan::default();
    }
    // Anything typed, or in a value where it cannot be chance: refuse.
    let certain = matches!(place, Place::FreeText | Place::Typed);
    // Shapes need room: a postcode 5 characters, an NI number 9, a UPN 13.
    let long = v.len() >= 5;
    let n = numbers::scan(v);
    let (upn_valid, upn_shape) = if alpha && v.len() >= 13 { patterns::find_upns(v) } else { (false, false) };
    let strong = if n.nhs_grouped || (certain && n.nhs_plain) {
        Some(Finding::NhsNumber)
    } else if certain && n.ten_digits {
        Some(Finding::TenDigitNumber)
    } else if at && patterns::contains_email(v) {
        Some(Finding::Email)
    } else if alpha && long && patterns::contains_postcode(v) {
        Some(Finding::Postcode)
    } else if certain && upn_shape {
        Some(Finding::Upn)
    } else if n.phone_grouped || (certain && n.phone_plain) {
        Some(Finding::Phone)
    } else if alpha && v.len() >= 9 && patterns::contains_ni_number(v) {
        Some(Finding::NiNumber)
    } else if alpha && patterns::contains_labelled_dob(v) {
        Some(Finding::DateOfBirth)
    } else if alpha && spaced && place != Place::Id && patterns::contains_address(v) {
        Some(Finding::Address)
    } else {
        None
    };
    if strong.is_some() || certain {
        return Scan { strong, ..Scan::default() };
    }
    let (weak, shape) = if n.plain_ten {
        (n.nhs_plain.then_some(Finding::NhsNumber), Some(Finding::NhsNumber))
    } else if upn_shape {
        (upn_valid.then_some(Finding::Upn), Some(Finding::Upn))
    } else if n.plain_eleven {
        (n.phone_plain.then_some(Finding::Phone), Some(Finding::Phone))
    } else {
        (None, None)
    };
    Scan { strong, weak, shape }
}

/// How a value may appear in a receipt, a log or an error: what the
/// detector found; else the value itself only when it is short, or a date
/// or number, or a code (no spaces, at least one digit: `E0100000`, `99Z`;
/// a name has no digits); else its first and last character. Partners find
/// the value by its line and column.
pub fn shown(value: &str) -> String {
    let v = value.trim();
    if let Some(f) = scan(v, Place::Typed).strong {
        return f.mask().to_string();
    }
    let n = v.chars().count();
    let numeric = v.bytes().all(|b| b.is_ascii_digit() || b" ./:+-T".contains(&b));
    let code = n <= 16 && v.bytes().any(|b| b.is_ascii_digit()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_/.:-".contains(&b));
    if n <= 4 || (numeric && n <= 25) || code {
        return v.to_string();
    }
    let first = v.chars().next().unwrap_or_default();
    let last = v.chars().last().unwrap_or_default();
    format!("{first}…{last} ({n} characters)")
}

/// Error text from a parser that quotes what it read (serde's `invalid
/// type: string "943 476 5919"`): each quoted or back-ticked piece shown
/// as [`shown`] would.
pub fn scrub_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['"', '`']) {
        let q = rest.as_bytes()[i] as char;
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        match rest.find(q) {
            Some(j) => {
                out.push_str(&shown(&rest[..j]));
                out.push(q);
                rest = &rest[j + 1..];
            }
            None => {
                out.push_str(&shown(rest));
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// 10 digits with a valid NHS check digit, written with or without the
/// usual separators (`943 476 5919`).
pub fn is_nhs_number(s: &str) -> bool {
    let digits: Vec<u8> = s.bytes().filter(|c| !matches!(c, b' ' | b'-' | b'.')).collect();
    digits.len() == 10 && digits.iter().all(u8::is_ascii_digit) && {
        let d: [u8; 10] = digits.iter().map(|c| c - b'0').collect::<Vec<_>>().try_into().expect("10 digits");
        nhs_check(&d)
    }
}

/// Column names that only ever hold raw identifiers.
pub fn raw_identifier_column(name: &str) -> Option<&'static str> {
    let n: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    const NAMES: &[(&str, &str)] = &[
        ("nhsnumber", "NHS number"),
        ("nhsno", "NHS number"),
        ("nhs", "NHS number"),
        ("name", "name"),
        ("firstname", "name"),
        ("forename", "name"),
        ("forenames", "name"),
        ("givenname", "name"),
        ("surname", "name"),
        ("lastname", "name"),
        ("familyname", "name"),
        ("fullname", "name"),
        ("legalname", "name"),
        ("preferredname", "name"),
        ("pupilname", "name"),
        ("patientname", "name"),
        ("dob", "date of birth"),
        ("dateofbirth", "date of birth"),
        ("birthdate", "date of birth"),
        ("postcode", "postcode"),
        ("homepostcode", "postcode"),
        ("postalcode", "postcode"),
        ("address", "address"),
        ("address1", "address"),
        ("addressline1", "address"),
        ("homeaddress", "address"),
        ("phone", "telephone number"),
        ("telephone", "telephone number"),
        ("mobile", "telephone number"),
        ("email", "email address"),
        ("emailaddress", "email address"),
        ("ninumber", "National Insurance number"),
        ("nino", "National Insurance number"),
        ("upn", "unique pupil number"),
        ("formerupn", "unique pupil number"),
        ("uln", "unique learner number"),
        ("pncid", "PNC id"),
    ];
    NAMES.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_and_weak_by_place() {
        assert_eq!(scan("943 476 5919", Place::Id).strong, Some(Finding::NhsNumber));
        let plain = Some(Finding::NhsNumber);
        assert_eq!(scan("9434765919", Place::Id), Scan { strong: None, weak: plain, shape: plain });
        assert_eq!(scan("9434765919", Place::FreeText).strong, Some(Finding::NhsNumber));
        assert_eq!(scan("9434765918", Place::Typed).strong, Some(Finding::TenDigitNumber));
        assert_eq!(scan("9434765918", Place::Id), Scan { strong: None, weak: None, shape: plain });
        assert_eq!(scan("Oakfield Academy, LS6 2QX", Place::Text).strong, Some(Finding::Postcode));
        assert_eq!(scan("ls62qx", Place::Typed).strong, Some(Finding::Postcode));
        assert_eq!(scan("call 07700 900123", Place::Text).strong, Some(Finding::Phone));
        assert_eq!(scan("jo@example.org", Place::Id).strong, Some(Finding::Email));
        assert_eq!(scan("John Smith", Place::Person).strong, Some(Finding::NotAPseudonym));
        assert_eq!(scan("943 476 5919", Place::Person).strong, Some(Finding::NhsNumber));
        assert_eq!(scan(&"AB".repeat(32), Place::Person), Scan::default());
        assert_eq!(scan(&"0123456789".repeat(7)[..64], Place::FreeText), Scan::default());
        for v in ["2024-01-05 10:30", "05/01/2024", "E01012345", "16", "-1.169239", "knife_sharp_object", "CR/12345/24", "RW3"] {
            assert_eq!(scan(v, Place::Text), Scan::default(), "{v}");
        }
    }

    #[test]
    fn shown_never_repeats_an_identifier() {
        assert_eq!(shown("ls6 2qx"), "[postcode]");
        assert_eq!(shown("943.476.5919"), "[NHS number]");
        assert_eq!(shown("99Z"), "99Z");
        assert_eq!(shown("2024-13-45"), "2024-13-45");
        assert_eq!(shown("John Smith"), "J…h (10 characters)");
        assert_eq!(shown("E0100000"), "E0100000");
        assert_eq!(shown("stabbing"), "s…g (8 characters)");
        assert_eq!(shown("AB123456C"), "[National Insurance number]");
        assert_eq!(
            scrub_quoted("invalid type: string \"943 476 5919\", expected u8 at `age`"),
            "invalid type: string \"[NHS number]\", expected u8 at `age`"
        );
    }

    #[test]
    fn nhs_numbers_and_columns() {
        assert!(is_nhs_number("9434765919"));
        assert!(is_nhs_number("943 476 5919"));
        assert!(!is_nhs_number("9434765918"));
        assert!(!is_nhs_number("943476591"));
        assert_eq!(raw_identifier_column("NHS_Number"), Some("NHS number"));
        assert_eq!(raw_identifier_column("Date of Birth"), Some("date of birth"));
        assert_eq!(raw_identifier_column("offence_code"), None);
    }
}
