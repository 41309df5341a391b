//! Reading the wire's timestamps without chrono's general parser.
//!
//! Every event carries two or three timestamps, and chrono's `FromStr`
//! (a format-item interpreter that accepts every RFC 3339 variant) was a
//! measurable share of the normaliser's decoding time. Our own producer
//! always writes one fixed shape, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]` (plus `Z`
//! for UTC instants), so that shape is read by hand; anything else falls
//! back to chrono, so the set of accepted strings and their values is
//! exactly what chrono accepts.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, de};
use std::borrow::Cow;

/// `YYYY-MM-DDTHH:MM:SS[.fraction]`, or `None` where the text has any other
/// shape (chrono then decides). Invalid dates in the fixed shape (month 13,
/// 30 February) also return `None`, so chrono's error message is the one a
/// producer sees.
fn fixed(s: &[u8]) -> Option<NaiveDateTime> {
    fn digits(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    }
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let nanos = match &s[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => digits(frac)? * 10u32.pow(9 - frac.len() as u32),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(digits(&s[0..4])? as i32, digits(&s[5..7])?, digits(&s[8..10])?)?;
    let second = digits(&s[17..19])?;
    // Second 60 (a leap second) is left to chrono, which has its own rules.
    if second >= 60 {
        return None;
    }
    date.and_hms_nano_opt(digits(&s[11..13])?, digits(&s[14..16])?, second, nanos)
}

/// The timestamp's text. Not borrowed from the input, although the type
/// suggests it: serde's `Cow<str>` always deserialises to an owned copy
/// (it borrows only for a field marked `#[serde(borrow)]`), so this costs
/// one allocation per timestamp, as `EventId`'s reader does per id. A
/// visitor taking `visit_borrowed_str` would avoid both (BENCHMARKS.md,
/// stop 28).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    Cow::<'de, str>::deserialize(d)
}

pub(crate) fn naive<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let s = text(d)?;
    fixed(s.as_bytes()).map_or_else(|| s.parse().map_err(de::Error::custom), Ok)
}

pub(crate) fn naive_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "naive")] NaiveDateTime);
    Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
}

pub(crate) fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = text(d)?;
    if let Some((b'Z', head)) = s.as_bytes().split_last()
        && let Some(t) = fixed(head)
    {
        return Ok(t.and_utc());
    }
    s.parse::<DateTime<FixedOffset>>().map(|t| t.with_timezone(&Utc)).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_naive(s: &str) -> Option<NaiveDateTime> {
        s.parse().ok()
    }

    #[test]
    fn fixed_shape_matches_chrono() {
        for s in [
            "2023-05-01T22:15:00",
            "2023-05-01T22:15:00.5",
            "2023-05-01T22:15:00.123456789",
            "2024-02-29T00:00:00",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59.999999999",
        ] {
            assert_eq!(fixed(s.as_bytes()), chrono_naive(s), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00",
            "2023-13-01T00:00:00",
            "2023-05-01T24:00:00",
            "2023-05-01T22:60:00",
            "2023-05-01 22:15:00",
            "2023-05-01T22:15:00.",
            "2023-05-01T22:15:00.1234567890",
            "+2023-05-01T22:15:00",
            "2023-5-01T22:15:00",
        ] {
            assert_eq!(fixed(s.as_bytes()), None, "{s}");
        }
    }

    proptest! {
        /// Whatever the text, the value read is chrono's value (or both refuse).
        #[test]
        fn naive_agrees_with_chrono(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?") {
            let ours: Result<NaiveDateTime, _> = naive(serde_json::Value::String(s.clone()));
            prop_assert_eq!(ours.ok(), chrono_naive(&s));
        }

        #[test]
        fn utc_agrees_with_chrono(s in "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-]0[0-9]:[03]0)") {
            let ours: Result<DateTime<Utc>, _> = utc(serde_json::Value::String(s.clone()));
            let theirs: Option<DateTime<Utc>> = serde_json::from_value(serde_json::Value::String(s)).ok();
            prop_assert_eq!(ours.ok(), theirs);
        }
    }
}
