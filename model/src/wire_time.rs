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

/// Reads a string and hands it to `f`, borrowed from the input where the
/// input allows (serde_json over a byte slice without escapes), so no
/// allocation is made per timestamp or id: serde's `Cow<str>` would always
/// copy (it borrows only for a field marked `#[serde(borrow)]`), which was
/// four allocations per message in the normaliser (BENCHMARKS.md, stop 28).
pub(crate) fn with_text<'de, D, T, F>(d: D, f: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct Text<F>(F);
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> de::Visitor<'de> for Text<F> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.0)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(Text(f))
}

pub(crate) fn naive<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    with_text(d, |s| fixed(s.as_bytes()).map_or_else(|| s.parse().map_err(|e: chrono::ParseError| e.to_string()), Ok))
}

pub(crate) fn naive_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "naive")] NaiveDateTime);
    Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
}

pub(crate) fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    with_text(d, |s| {
        if let Some((b'Z', head)) = s.as_bytes().split_last()
            && let Some(t) = fixed(head)
        {
            return Ok(t.and_utc());
        }
        s.parse::<DateTime<FixedOffset>>().map(|t| t.with_timezone(&Utc)).map_err(|e| e.to_string())
    })
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

    /// Borrowed from the message (the normaliser's case), copied out of an
    /// escape, or owned (a `Value`): the same value, and errors name the text.
    #[test]
    fn every_kind_of_string_reads_the_same() {
        let want = chrono_naive("2023-05-01T22:15:00.5");
        let borrowed: NaiveDateTime = naive(&mut serde_json::Deserializer::from_slice(br#""2023-05-01T22:15:00.5""#)).unwrap();
        let escaped: NaiveDateTime = naive(&mut serde_json::Deserializer::from_slice(br#""\u0032023-05-01T22:15:00.5""#)).unwrap();
        let owned = naive(serde_json::Value::String("2023-05-01T22:15:00.5".into())).unwrap();
        assert_eq!([Some(borrowed), Some(escaped), Some(owned)], [want; 3]);
        let err = naive(&mut serde_json::Deserializer::from_slice(br#""yesterday""#)).unwrap_err().to_string();
        assert!(err.contains("input contains invalid characters"), "{err}");
        assert!(utc(&mut serde_json::Deserializer::from_slice(b"17")).is_err(), "a number is not a timestamp");
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
