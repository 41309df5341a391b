//! Identifiers with letters in them: full postcodes, unique pupil numbers,
//! email addresses, labelled dates of birth and street addresses. Each
//! works on ASCII bytes; anything else separates words.

/// A full postcode: outward code (A9, A99, AA9, AA99, A9A, AA9A) then inward
/// code (9AA), with or without the space, any case.
pub fn is_postcode(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    postcode_bytes(&compact)
}

fn postcode_bytes(compact: &[u8]) -> bool {
    if !(5..=7).contains(&compact.len()) {
        return false;
    }
    let (out, inward) = compact.split_at(compact.len() - 3);
    let a = |c: &u8| c.is_ascii_alphabetic();
    let d = |c: &u8| c.is_ascii_digit();
    let inward_ok = d(&inward[0]) && a(&inward[1]) && a(&inward[2]);
    let out_ok = match out {
        [x, y] => a(x) && d(y),
        [x, y, z] => a(x) && ((d(y) && d(z)) || (a(y) && d(z)) || (d(y) && a(z))),
        [w, x, y, z] => a(w) && a(x) && d(y) && (d(z) || a(z)),
        _ => false,
    };
    inward_ok && out_ok
}

/// Alphanumeric words of `value` with their byte ranges.
fn words(value: &str) -> impl Iterator<Item = (usize, &str)> {
    let b = value.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        Some((s, &value[s..i]))
    })
}

/// A postcode anywhere: one word (`LS62QX`) or an outward word and an
/// inward word separated only by spaces (`LS6 2QX`).
pub fn contains_postcode(value: &str) -> bool {
    let b = value.as_bytes();
    let mut prev: Option<(usize, &str)> = None;
    for (s, w) in words(value) {
        if w.len() >= 5 && w.len() <= 7 && is_postcode(w) {
            return true;
        }
        if let Some((ps, pw)) = prev
            && w.len() == 3
            && (2..=4).contains(&pw.len())
            && b[ps + pw.len()..s].iter().all(|c| *c == b' ')
            && s - (ps + pw.len()) <= 2
        {
            let joined: Vec<u8> = pw.bytes().chain(w.bytes()).map(|c| c.to_ascii_uppercase()).collect();
            if postcode_bytes(&joined) {
                return true;
            }
        }
        prev = Some((s, w));
    }
    false
}

/// Letters of the UPN check-character alphabet (no I, O or S).
const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// A unique pupil number's shape: a letter, 11 digits, then a digit or
/// (temporary UPNs) a letter. Returns whether the check letter is right:
/// the DfE's modulus-23 sum of characters 2-13 weighted 2 to 13.
pub fn upn(word: &str) -> Option<bool> {
    let b = word.as_bytes();
    if b.len() != 13 || !b[0].is_ascii_alphabetic() || !b[1..12].iter().all(u8::is_ascii_digit) || !b[12].is_ascii_alphanumeric() {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        if c.is_ascii_digit() {
            Some(u32::from(c - b'0'))
        } else {
            UPN_LETTERS.iter().position(|l| *l == c.to_ascii_uppercase()).map(|p| p as u32)
        }
    };
    let mut sum = 0;
    for (i, c) in b[1..].iter().enumerate() {
        let Some(v) = value(*c) else { return Some(false) };
        sum += v * (i as u32 + 2);
    }
    Some(UPN_LETTERS[(sum % 23) as usize] == b[0].to_ascii_uppercase())
}

/// Every UPN-shaped word in `value`: (valid check letter found, any shape found).
pub fn find_upns(value: &str) -> (bool, bool) {
    let mut out = (false, false);
    for (_, w) in words(value) {
        if let Some(valid) = upn(w) {
            out.0 |= valid;
            out.1 = true;
        }
    }
    out
}

/// `someone@example.org`: a local part, `@`, and a dotted domain.
pub fn contains_email(value: &str) -> bool {
    let b = value.as_bytes();
    b.iter().enumerate().filter(|(_, c)| **c == b'@').any(|(at, _)| {
        let local = b[..at].iter().rev().take_while(|c| c.is_ascii_alphanumeric() || b"._%+-'".contains(c)).count();
        let domain: Vec<u8> = b[at + 1..].iter().copied().take_while(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-').collect();
        let domain = domain.strip_suffix(b".").unwrap_or(&domain);
        let tld = domain.rsplit(|c| *c == b'.').next().unwrap_or_default();
        local > 0 && domain.contains(&b'.') && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
    })
}

/// A National Insurance number: two letters (not D, F, I, Q, U or V; the
/// second not O), six digits, then A-D, spaces allowed between pairs.
pub fn contains_ni_number(value: &str) -> bool {
    let b = value.as_bytes();
    let prefix_ok = |c: u8, second: bool| {
        let c = c.to_ascii_uppercase();
        c.is_ascii_uppercase() && !b"DFIQUV".contains(&c) && !(second && c == b'O')
    };
    (0..b.len()).any(|start| {
        if start > 0 && b[start - 1].is_ascii_alphanumeric() {
            return false;
        }
        // Letter, letter, then pairs of digits, then the suffix letter,
        // each group optionally after one space.
        let mut i = start;
        let mut next = |pred: &dyn Fn(u8) -> bool, space: bool| -> bool {
            if space && b.get(i) == Some(&b' ') {
                i += 1;
            }
            let ok = b.get(i).is_some_and(|c| pred(*c));
            i += 1;
            ok
        };
        let digit = |c: u8| c.is_ascii_digit();
        next(&|c| prefix_ok(c, false), false)
            && next(&|c| prefix_ok(c, true), false)
            && next(&digit, true)
            && next(&digit, false)
            && next(&digit, true)
            && next(&digit, false)
            && next(&digit, true)
            && next(&digit, false)
            && next(&|c| (b'A'..=b'D').contains(&c.to_ascii_uppercase()), true)
            && b.get(i).is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DOB_LABELS: &[&str] = &["date of birth", "birth date", "birthdate", "d.o.b", "dob", "born", "d/o/b"];

/// A date of birth given with its label (`DOB 01/02/2008`, `born on 3 March
/// 2009`, `date of birth: 2008-02-01`). A bare date is an event date.
pub fn contains_labelled_dob(value: &str) -> bool {
    // Every label has a `b`: most values have none and stop here.
    if !value.bytes().any(|c| c == b'b' || c == b'B') {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let b = lower.as_bytes();
    DOB_LABELS.iter().any(|label| {
        lower.match_indices(label).any(|(at, _)| {
            // The label must be a word of its own.
            let before_ok = at == 0 || !b[at - 1].is_ascii_alphanumeric();
            let mut i = at + label.len();
            if i < b.len() && b[i].is_ascii_alphanumeric() && !label.ends_with('b') {
                return false;
            }
            if !before_ok || (i < b.len() && b[i].is_ascii_alphabetic()) {
                return false;
            }
            while i < b.len() && matches!(b[i], b' ' | b':' | b'-' | b'.' | b'=' | b'\t') {
                i += 1;
            }
            if lower[i..].starts_with("on ") {
                i += 3;
            }
            looks_like_date(&lower[i..])
        })
    })
}

/// The start of `s` reads as a date: digits with `/ . -` between them
/// (`1/2/2008`, `2008-02-01`) or a day followed by a month name.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if lead == 0 || lead > 4 {
        return false;
    }
    let rest = &s[lead..];
    let rb = rest.as_bytes();
    if rb.first().is_some_and(|c| matches!(c, b'/' | b'.' | b'-')) && rb.get(1).is_some_and(u8::is_ascii_digit) {
        return true;
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic() && "stndrdth".contains(c)).trim_start();
    MONTHS.iter().any(|m| rest.starts_with(m))
}

const STREET_WORDS: &[&str] = &[
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "lane",
    "ln",
    "close",
    "cl",
    "drive",
    "dr",
    "way",
    "crescent",
    "cres",
    "court",
    "ct",
    "place",
    "pl",
    "grove",
    "gardens",
    "gdns",
    "terrace",
    "terr",
    "walk",
    "mews",
    "row",
    "square",
    "sq",
    "hill",
    "park",
    "view",
    "rise",
    "green",
    "parade",
    "boulevard",
    "approach",
    "croft",
    "fold",
    "gate",
    "wynd",
    "vale",
];

/// A house number then a street (`12 Oak Street`, `4a High Rd`, `12 St
/// John's Road`), or a flat number: an address that, with the area, names a
/// household. The words between number and street must read as a name
/// (capitalised, unless the whole value is in one case), so `2 men ran down
/// Park Road` is a description, not an address.
pub fn contains_address(value: &str) -> bool {
    let ws: Vec<&str> = value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    let one_case = !(value.bytes().any(|c| c.is_ascii_uppercase()) && value.bytes().any(|c| c.is_ascii_lowercase()));
    let name_word =
        |w: &str| w.bytes().all(|c| c.is_ascii_alphabetic() || c == b'\'') && (one_case || w.as_bytes()[0].is_ascii_uppercase());
    let street = |w: &str| STREET_WORDS.contains(&w.to_ascii_lowercase().as_str());
    ws.iter().enumerate().any(|(i, w)| {
        let lw = w.to_ascii_lowercase();
        if matches!(lw.as_str(), "flat" | "apartment" | "apt") && ws.get(i + 1).is_some_and(|n| n.as_bytes()[0].is_ascii_digit()) {
            return true;
        }
        let digits = w.bytes().take_while(u8::is_ascii_digit).count();
        let suffix = &lw[digits..];
        if !((1..=4).contains(&digits) && (suffix.is_empty() || (suffix.len() == 1 && suffix.as_bytes()[0].is_ascii_alphabetic()))) {
            return false;
        }
        let reach = if one_case { 3 } else { 4 };
        (i + 2..=(i + reach).min(ws.len().saturating_sub(1))).any(|j| street(ws[j]) && ws[i + 1..j].iter().all(|n| name_word(n)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes() {
        for p in ["M1 1AE", "M60 2LA", "SW1A 1AA", "EC1A1BB", "B33 8TH", "CR2 6XH", "DN55 1PT", "ls6 2qx"] {
            assert!(is_postcode(p), "{p}");
            assert!(contains_postcode(&format!("Oakfield Academy, {p}")), "{p}");
        }
        for p in ["M1", "E01012345", "1AA M1", "HELLO", "Leeds 001A", "Stockton-on-Tees 014C", "2024-01-05"] {
            assert!(!contains_postcode(p), "{p}");
        }
        assert!(contains_postcode("outside the shop at SW1A 1AA."));
        assert!(!contains_postcode("outside the shop on the high street"));
    }

    #[test]
    fn upns() {
        // Check letters computed by hand with the DfE weights.
        // 1x2 + 2x3 + ... + 2x13 = 368 = 16x23 + 0: check letter A.
        assert_eq!(upn("A123456789012"), Some(true));
        assert_eq!(upn("B123456789012"), Some(false));
        let valid = (0..23).map(|i| format!("{}80120171000{}", UPN_LETTERS[i] as char, 1)).find(|w| upn(w) == Some(true)).unwrap();
        assert_eq!(upn(&valid.to_lowercase()), Some(true));
        assert_eq!(upn("A12345678901"), None);
        assert_eq!(find_upns(&format!("pupil {valid} excluded")), (true, true));
    }

    #[test]
    fn emails_dates_of_birth_addresses() {
        assert!(contains_ni_number("NI AB 12 34 56 C given") && contains_ni_number("ab123456c"));
        assert!(!contains_ni_number("AB123456E") && !contains_ni_number("XAB123456C") && !contains_ni_number("DA123456A"));
        assert!(contains_email("contact jo.bloggs+x@example.co.uk please"));
        assert!(!contains_email("@ the park"));
        assert!(!contains_email("a@b"));
        for v in ["DOB 01/02/2008", "dob: 2008-02-01", "born on 3 March 2009", "Date of birth 1st Feb 2008", "d.o.b. 1.2.08"] {
            assert!(contains_labelled_dob(v), "{v}");
        }
        for v in ["seen 01/02/2008", "reborn 2008", "dobson 12/01/2020"] {
            assert!(!contains_labelled_dob(v), "{v}");
        }
        for v in [
            "12 Oak Street",
            "outside 4a High Rd",
            "Flat 3, Hill House",
            "221 Baker Street, London",
            "12 St John's Road",
            "outside 12 oak street",
        ] {
            assert!(contains_address(v), "{v}");
        }
        for v in [
            "On or near Oak Street",
            "5th Avenue",
            "Year 9 pupils at St Mary's",
            "2 people on High Street corner",
            "2 men ran down park road",
        ] {
            assert!(!contains_address(v), "{v}");
        }
    }
}
