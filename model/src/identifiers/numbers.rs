//! Identifiers made of digits: NHS numbers and UK telephone numbers, in
//! whatever grouping a person or a system wrote them. A value is cut into
//! spans of digits and the separators people put between digit groups
//! (space, dot, hyphen, brackets, a leading `+`); every short run of
//! consecutive groups is then tried against each shape.

/// Digit groups of one span: byte ranges into the value.
type Groups = Vec<(usize, usize)>;

/// What the numbers in a value look like.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NumberFindings {
    /// 10 digits grouped 3-3-4 (`943 476 5919`, `943.476.5919`) with a
    /// valid modulus-11 check digit.
    pub nhs_grouped: bool,
    /// 10 digits in one run with a valid check digit: one such value in ten
    /// is any 10-digit number, so alone it is weak evidence.
    pub nhs_plain: bool,
    /// 10 digits (grouped 3-3-4 or in one run) whose check digit fails.
    pub ten_digits: bool,
    /// A UK telephone number written with separators or an international prefix.
    pub phone_grouped: bool,
    /// 11 digits in one run that read as a UK telephone number.
    pub phone_plain: bool,
    /// Some run of exactly 10 digits, valid or not: the shape `nhs_plain`
    /// is weighed against.
    pub plain_ten: bool,
    /// Some run of 11 digits starting with 0.
    pub plain_eleven: bool,
}

/// 10 digits whose last is the modulus-11 check digit of the first nine
/// (weights 10 down to 2).
pub fn nhs_check(d: &[u8; 10]) -> bool {
    let sum: u32 = d[..9].iter().zip((2..=10u32).rev()).map(|(d, w)| u32::from(*d) * w).sum();
    match 11 - sum % 11 {
        11 => d[9] == 0,
        10 => false,
        c => u32::from(d[9]) == c,
    }
}

fn is_span_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'.' | b'-' | b'(' | b')' | b'+')
}

/// Scans every number-like span of `value`.
pub fn scan(value: &str) -> NumberFindings {
    let b = value.as_bytes();
    let mut out = NumberFindings::default();
    let mut i = 0;
    let mut groups: Groups = Vec::new();
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A span starts at a digit (a `+` just before it is kept for phones)
        // and runs over digits and separators.
        let start = i;
        let mut end = i;
        while end < b.len() && is_span_byte(b[end]) {
            end += 1;
        }
        // Fewer than 10 digits in the span: no NHS or telephone number.
        if b[start..end].iter().filter(|c| c.is_ascii_digit()).count() < 10 {
            i = end.max(start + 1);
            continue;
        }
        groups.clear();
        let mut j = start;
        while j < end {
            if b[j].is_ascii_digit() {
                let g = j;
                while j < end && b[j].is_ascii_digit() {
                    j += 1;
                }
                groups.push((g, j));
            } else {
                j += 1;
            }
        }
        examine(b, &groups, &mut out);
        i = end.max(start + 1);
    }
    out
}

/// The digits of consecutive groups as values 0-9, in a buffer on the
/// stack (only the first 16 matter to any shape here).
fn digits_of(b: &[u8], groups: &[(usize, usize)]) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    let mut n = 0;
    for (s, e) in groups {
        for c in &b[*s..*e] {
            if n < 16 {
                out[n] = c - b'0';
            }
            n += 1;
        }
    }
    (out, n)
}

fn ten(b: &[u8], groups: &[(usize, usize)]) -> [u8; 10] {
    let (d, _) = digits_of(b, groups);
    d[..10].try_into().expect("10 digits")
}

/// Exactly one separator character between two groups.
fn single_sep(b: &[u8], left: (usize, usize), right: (usize, usize)) -> bool {
    right.0 == left.1 + 1 && matches!(b[left.1], b' ' | b'.' | b'-')
}

fn examine(b: &[u8], groups: &[(usize, usize)], out: &mut NumberFindings) {
    for (k, g) in groups.iter().enumerate() {
        // One run of 10 digits, not the fraction of a decimal (`54.5001349434`).
        let decimal = g.0 > 0 && b[g.0 - 1] == b'.' && k > 0 && groups[k - 1].1 == g.0 - 1;
        if g.1 - g.0 == 10 && !decimal {
            out.plain_ten = true;
            if nhs_check(&ten(b, &[*g])) {
                out.nhs_plain = true;
            } else {
                out.ten_digits = true;
            }
        }
        if g.1 - g.0 == 11 && b[g.0] == b'0' {
            out.plain_eleven = true;
            out.phone_plain |= matches!(b[g.0 + 1], b'1' | b'2' | b'3' | b'7');
        }
        // 3-3-4 with one separator between groups.
        if k + 2 < groups.len() {
            let (a, m, c) = (groups[k], groups[k + 1], groups[k + 2]);
            if a.1 - a.0 == 3 && m.1 - m.0 == 3 && c.1 - c.0 == 4 && single_sep(b, a, m) && single_sep(b, m, c) {
                if nhs_check(&ten(b, &[a, m, c])) {
                    out.nhs_grouped = true;
                } else {
                    out.ten_digits = true;
                }
            }
        }
        // Telephone numbers over 2 to 5 groups.
        for n in 2..=5.min(groups.len() - k) {
            let window = &groups[k..k + n];
            let joined = window.windows(2).all(|w| w[1].0 - w[0].1 <= 3);
            if !joined {
                break;
            }
            let (buf, len) = digits_of(b, window);
            if !(10..=16).contains(&len) {
                continue;
            }
            let d = &buf[..len];
            let after_plus = window[0].0 > 0 && b[window[0].0 - 1] == b'+';
            let intl = (after_plus && d.starts_with(&[4, 4])) || d.starts_with(&[0, 0, 4, 4]);
            let national: &[u8] = if intl {
                let rest = &d[if d[0] == 0 { 4 } else { 2 }..];
                // `+44 (0)113 ...`: the bracketed trunk zero is dropped.
                rest.strip_prefix(&[0]).unwrap_or(rest)
            } else if d.first() == Some(&0) {
                &d[1..]
            } else {
                continue;
            };
            if national.len() == 10 && matches!(national[0], 1 | 2 | 3 | 7) {
                out.phone_grouped = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers_in_every_grouping() {
        // 943 476 5919 is the NHS's published example of a valid number.
        for v in ["9434765919", "943 476 5919", "943.476.5919", "943-476-5919", "patient 943 476 5919 seen", "ref9434765919x"] {
            let f = scan(v);
            assert!(f.nhs_grouped || f.nhs_plain, "{v}: {f:?}");
        }
        assert!(scan("943 476 5919").nhs_grouped);
        assert!(!scan("9434765919").nhs_grouped);
        let wrong = scan("9434765918");
        assert!(!wrong.nhs_plain && wrong.ten_digits);
        assert!(scan("943 476 5918").ten_digits);
    }

    #[test]
    fn dates_times_and_decimals_are_not_numbers_of_people() {
        for v in ["2024-01-05 10:30", "2024-01-05T10:30:00", "05/01/2024", "-1.169239", "54.5001349434", "E01012345", "12.5", "1900-01-01"]
        {
            assert_eq!(scan(v), NumberFindings::default(), "{v}");
        }
    }

    #[test]
    fn telephone_numbers() {
        for v in [
            "1 +44 7000 000000.",
            "0113 496 0000",
            "07700 900123",
            "07700-900-123",
            "+44 7700 900123",
            "+44 (0)113 496 0000",
            "0044 113 496 0000",
            "(0113) 496 0000",
        ] {
            assert!(scan(v).phone_grouped, "{v}: {:?}", scan(v));
        }
        assert!(scan("07700900123").phone_plain);
        assert!(!scan("12345678901").phone_plain);
        assert!(!scan("2023 2024").phone_grouped);
    }
}
