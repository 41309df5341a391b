//! Detectors for raw identifiers. Partners must pseudonymise before sending;
//! these catch the mistakes that happen anyway (an NHS number left in an id
//! column, a postcode typed into a free-text field, a `date_of_birth` column)
//! so that such a file is refused before anything reaches Kafka.

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
        ("surname", "name"),
        ("lastname", "name"),
        ("fullname", "name"),
        ("dob", "date of birth"),
        ("dateofbirth", "date of birth"),
        ("birthdate", "date of birth"),
        ("postcode", "postcode"),
        ("homepostcode", "postcode"),
        ("address", "address"),
        ("phone", "telephone number"),
        ("telephone", "telephone number"),
        ("email", "email address"),
        ("ninumber", "National Insurance number"),
        ("nino", "National Insurance number"),
        ("upn", "unique pupil number"),
        ("uln", "unique learner number"),
    ];
    NAMES.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
}

/// What a value looks like, if it looks like a raw identifier. Used on
/// identifier columns (where only pseudonyms are allowed) and on free text.
pub fn describe(value: &str) -> Option<&'static str> {
    if contains_nhs_number(value) {
        return Some("looks like an NHS number");
    }
    if contains_postcode(value) {
        return Some("looks like a full UK postcode");
    }
    if looks_like_upn(value.trim()) {
        return Some("looks like a unique pupil number");
    }
    None
}

/// 10 digits whose last is the modulus-11 check digit of the first nine
/// (weights 10 down to 2). Written with or without spaces (`943 476 5919`).
pub fn is_nhs_number(s: &str) -> bool {
    let digits: Vec<u32> =
        s.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_digit(10)).collect::<Option<_>>().unwrap_or_default();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == digits[9]
}

fn contains_nhs_number(s: &str) -> bool {
    // Runs of digits, allowing the usual 3-3-4 spacing inside a run.
    let mut run = String::new();
    let mut found = false;
    let mut flush = |run: &mut String| {
        found |= is_nhs_number(run);
        run.clear();
    };
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            run.push(*c);
        } else if (*c == ' ' || *c == '-') && !run.is_empty() && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            continue;
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    found
}

/// A full postcode: outward code (A9, A99, AA9, AA99, A9A, AA9A) then inward
/// code (9AA), with or without the space.
pub fn is_postcode(s: &str) -> bool {
    let compact: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    if !(5..=7).contains(&compact.len()) {
        return false;
    }
    let (out, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = inward[0].is_ascii_digit() && inward[1].is_ascii_alphabetic() && inward[2].is_ascii_alphabetic();
    let a = |c: &char| c.is_ascii_alphabetic();
    let d = |c: &char| c.is_ascii_digit();
    let out_ok = match out {
        [x, y] => a(x) && d(y),
        [x, y, z] => a(x) && ((d(y) && d(z)) || (a(y) && d(z)) || (d(y) && a(z))),
        [w, x, y, z] => a(w) && a(x) && d(y) && (d(z) || a(z)),
        _ => false,
    };
    inward_ok && out_ok
}

fn contains_postcode(s: &str) -> bool {
    let tokens: Vec<&str> = s.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).collect();
    tokens.iter().any(|t| t.len() >= 5 && is_postcode(t))
        || tokens.windows(2).any(|w| w[1].len() == 3 && is_postcode(&format!("{}{}", w[0], w[1])))
}

/// A unique pupil number: a letter then 12 digits (the last may be a letter
/// for temporary UPNs).
fn looks_like_upn(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 13 && b[0].is_ascii_alphabetic() && b[1..12].iter().all(u8::is_ascii_digit) && b[12].is_ascii_alphanumeric()
}

/// Watches the values of ordinary text columns across a whole file. One
/// 10-digit record id passes the NHS check digit by chance one time in
/// eleven, so single values prove nothing; a column where most values pass
/// (or most are postcodes) is a column of raw identifiers.
#[derive(Debug, Default, Clone)]
pub struct ColumnSniffer {
    /// Per column: values seen, NHS-number-like, postcode-like.
    counts: Vec<(u64, u64, u64)>,
}

impl ColumnSniffer {
    pub fn observe(&mut self, column: usize, value: &str) {
        if self.counts.len() <= column {
            self.counts.resize(column + 1, (0, 0, 0));
        }
        let c = &mut self.counts[column];
        c.0 += 1;
        c.1 += u64::from(is_nhs_number(value));
        c.2 += u64::from(is_postcode(value));
    }

    /// Columns (0-based) that look like raw identifiers, with what they look like.
    pub fn suspicious(&self) -> Vec<(usize, &'static str)> {
        self.counts
            .iter()
            .enumerate()
            .filter_map(|(i, (n, nhs, pc))| {
                let most = |k: &u64| *n > 0 && *k * 2 > *n;
                if most(nhs) {
                    Some((i, "NHS numbers"))
                } else if most(pc) {
                    Some((i, "full UK postcodes"))
                } else {
                    None
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers() {
        // 943 476 5919 is the NHS's published example of a valid number.
        assert!(is_nhs_number("9434765919"));
        assert!(is_nhs_number("943 476 5919"));
        assert!(!is_nhs_number("9434765918"));
        assert!(!is_nhs_number("943476591"));
        assert!(describe("patient 943 476 5919 seen").is_some());
        assert!(describe("12345").is_none());
    }

    #[test]
    fn postcodes() {
        for p in ["M1 1AE", "M60 2LA", "SW1A 1AA", "EC1A1BB", "B33 8TH", "CR2 6XH", "DN55 1PT"] {
            assert!(is_postcode(p), "{p}");
        }
        for p in ["M1", "E01012345", "1AA M1", "HELLO"] {
            assert!(!is_postcode(p), "{p}");
        }
        assert!(describe("outside the shop at SW1A 1AA").is_some());
        assert!(describe("outside the shop on the high street").is_none());
    }

    #[test]
    fn sniffer_needs_a_majority() {
        let mut s = ColumnSniffer::default();
        for i in 0..100u64 {
            // Sequential 10-digit ids: about one in eleven passes by chance.
            s.observe(0, &format!("{}", 1_000_000_000 + i));
            s.observe(1, "9434765919");
            s.observe(2, if i % 3 == 0 { "M1 1AE" } else { "x" });
        }
        assert_eq!(s.suspicious(), vec![(1, "NHS numbers")]);
    }

    #[test]
    fn columns() {
        assert_eq!(raw_identifier_column("NHS_Number"), Some("NHS number"));
        assert_eq!(raw_identifier_column("Date of Birth"), Some("date of birth"));
        assert_eq!(raw_identifier_column("offence_code"), None);
        assert!(describe("A123456789012").is_some());
    }
}
