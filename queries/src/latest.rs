//! Which version of a record is its current state, as one value that
//! `max` can pick.
//!
//! The current state is each record's row with the highest
//! `record_version`, then the latest `ingested_at`, then (so that ties have
//! one answer, whatever the plan) the highest `event_id`; a NULL in any of
//! them ranks first, as `DESC NULLS FIRST` does. DataFusion 55 can do this
//! with `first_value(event_id ORDER BY ...)`, but its groups accumulator
//! compares each row's ordering through `ScalarValue`s: ~0.7 s of CPU for
//! the 10x city's 0.6M police offences, where the grouping alone takes
//! ~0.1 s. [`version_key`] packs the three into bytes that sort in that
//! order, so a plain `max` over binary (a groups accumulator comparing
//! slices) picks the winner, and [`key_event_id`] reads the winning event
//! id back out of it to join the log on. (`max` over a struct would say it
//! directly, but in DataFusion 55 it grew past 24 GB on the same table.)

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringViewBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use std::sync::Arc;

/// `vru_version_key(record_version, ingested_at, event_id)`, the two
/// numbers as BIGINT (the timestamp's microseconds).
pub const VERSION_KEY: &str = "vru_version_key";
/// `vru_key_event_id(key)`: the event id inside a [`VERSION_KEY`].
pub const KEY_EVENT_ID: &str = "vru_key_event_id";

/// Where the event id starts in a key: two numbers of a flag byte and
/// eight bytes each, then the id's own flag byte.
const ID_AT: usize = 2 * 9 + 1;

/// A number's bytes in a key: a flag (NULL above every number), then the
/// number with its sign bit flipped, big-endian, so that bytes compare as
/// the numbers do.
fn push_number(key: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            key.push(0);
            key.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        }
        None => key.extend_from_slice(&[1; 9]),
    }
}

/// An event id's bytes at the end of a key: a flag (NULL above every
/// id), then the id.
fn push_event_id(key: &mut Vec<u8>, event_id: Option<&str>) {
    match event_id {
        Some(id) => {
            key.push(0);
            key.extend_from_slice(id.as_bytes());
        }
        None => key.push(1),
    }
}

/// The sort key of one version; bytes compare as the versions rank.
pub fn key(version: Option<i64>, ingested_micros: Option<i64>, event_id: Option<&str>) -> Vec<u8> {
    let mut key = Vec::with_capacity(ID_AT + event_id.map_or(0, str::len));
    push_number(&mut key, version);
    push_number(&mut key, ingested_micros);
    push_event_id(&mut key, event_id);
    key
}

/// The event id in a key (None for a NULL id, or a key this module did
/// not make).
pub fn event_id_of(key: &[u8]) -> Option<&str> {
    match key.get(ID_AT - 1) {
        Some(0) => std::str::from_utf8(&key[ID_AT..]).ok(),
        _ => None,
    }
}

/// A scalar function of `inputs` returning the binary keys `build` appends,
/// one per row of the arrays it is given.
fn key_udf(
    name: &'static str,
    inputs: Vec<DataType>,
    build: impl Fn(&[ArrayRef], &mut BinaryBuilder) -> Result<(), DataFusionError> + Send + Sync + 'static,
) -> ScalarUDF {
    let f = move |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        let rows = args.first().map_or(0, |a| a.len());
        let mut out = BinaryBuilder::with_capacity(rows, rows * (ID_AT + 64));
        build(&args, &mut out)?;
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    };
    create_udf(name, inputs, DataType::Binary, Volatility::Immutable, Arc::new(f))
}

/// A scalar function reading the event id back out of keys with `read`.
fn id_udf(name: &'static str, read: fn(&[u8]) -> Option<&str>) -> ScalarUDF {
    let f = move |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        let keys = args[0].as_binary_opt::<i32>().ok_or_else(|| DataFusionError::Internal(format!("{name} takes binary")))?;
        let mut out = StringViewBuilder::with_capacity(keys.len());
        for k in keys.iter() {
            out.append_option(k.and_then(read));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    };
    create_udf(name, vec![DataType::Binary], DataType::Utf8View, Volatility::Immutable, Arc::new(f))
}

/// [`VERSION_KEY`] as a DataFusion function.
pub fn version_key() -> ScalarUDF {
    key_udf(VERSION_KEY, vec![DataType::Int64, DataType::Int64, DataType::Utf8View], |args, out| {
        let versions = args[0].as_primitive::<Int64Type>();
        let ingested = args[1].as_primitive::<Int64Type>();
        let ids = cast(&args[2], &DataType::Utf8View)?;
        let ids = ids.as_string_view();
        for i in 0..ids.len() {
            let value = |a: &dyn Array, v: i64| (!a.is_null(i)).then_some(v);
            out.append_value(key(
                value(versions, versions.value(i)),
                value(ingested, ingested.value(i)),
                ids.is_valid(i).then(|| ids.value(i)),
            ));
        }
        Ok(())
    })
}

/// [`KEY_EVENT_ID`] as a DataFusion function.
pub fn key_event_id() -> ScalarUDF {
    id_udf(KEY_EVENT_ID, event_id_of)
}

/// `vru_crime_key(record_version, record_id, event_id)`: which of a
/// crime's rows (one per record: a person in a role) is its latest
/// recorded form, as `crimes` ranks them: the highest `record_version`
/// (NULL first, as `DESC` puts it), then the lowest `record_id` (NULL
/// last, as `ASC` puts it). The `row_number()` window this replaces took
/// 0.95 s of CPU on the 10x city's 0.6M police rows (its many small
/// partitions), three times what sorting them took.
pub const CRIME_KEY: &str = "vru_crime_key";
/// `vru_crime_key_event_id(key)`: the event id inside a [`CRIME_KEY`].
pub const CRIME_KEY_EVENT_ID: &str = "vru_crime_key_event_id";

/// The sort key of one row of a crime; the greatest key is the row that
/// ranks first. The record id is written so that a lower id gives a
/// greater key: its bytes in an order-preserving, prefix-free form (a 0
/// byte as 0x00 0xFF, the end as 0x00 0x00), each then inverted. The
/// event id follows, for the join back, and never decides (a record id
/// is one row of the current state).
pub fn crime_key(version: Option<i64>, record_id: Option<&str>, event_id: Option<&str>) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + 3 + record_id.map_or(0, str::len) + 1 + event_id.map_or(0, str::len));
    push_number(&mut key, version);
    match record_id {
        Some(id) => {
            key.push(1);
            for &b in id.as_bytes() {
                match b {
                    0 => key.extend_from_slice(&[!0u8, !0xFFu8]),
                    b => key.push(!b),
                }
            }
            key.extend_from_slice(&[!0u8, !0u8]);
        }
        None => key.push(0),
    }
    push_event_id(&mut key, event_id);
    key
}

/// The event id in a [`crime_key`] (None for a NULL id, or a key this
/// module did not make).
pub fn crime_key_event_id(key: &[u8]) -> Option<&str> {
    let mut at = 9;
    if *key.get(at)? == 1 {
        at += 1;
        loop {
            match *key.get(at)? {
                0xFF => {
                    let next = *key.get(at + 1)?;
                    at += 2;
                    if next == 0xFF {
                        break;
                    }
                }
                _ => at += 1,
            }
        }
    } else {
        at += 1;
    }
    match key.get(at)? {
        0 => std::str::from_utf8(&key[at + 1..]).ok(),
        _ => None,
    }
}

/// [`CRIME_KEY`] as a DataFusion function.
pub fn crime_key_udf() -> ScalarUDF {
    key_udf(CRIME_KEY, vec![DataType::Int64, DataType::Utf8View, DataType::Utf8View], |args, out| {
        let versions = args[0].as_primitive::<Int64Type>();
        let records = cast(&args[1], &DataType::Utf8View)?;
        let records = records.as_string_view();
        let ids = cast(&args[2], &DataType::Utf8View)?;
        let ids = ids.as_string_view();
        for i in 0..ids.len() {
            out.append_value(crime_key(
                (!versions.is_null(i)).then(|| versions.value(i)),
                records.is_valid(i).then(|| records.value(i)),
                ids.is_valid(i).then(|| ids.value(i)),
            ));
        }
        Ok(())
    })
}

/// [`CRIME_KEY_EVENT_ID`] as a DataFusion function.
pub fn crime_key_event_id_udf() -> ScalarUDF {
    id_udf(CRIME_KEY_EVENT_ID, crime_key_event_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Version = (Option<i64>, Option<i64>, Option<String>);

    /// The rank `ORDER BY record_version DESC NULLS FIRST, ingested_at
    /// DESC NULLS FIRST, event_id DESC NULLS FIRST` gives, as an ascending
    /// comparison (greater ranks first).
    fn rank(a: &Version, b: &Version) -> std::cmp::Ordering {
        // None above Some: Option's order, reversed on the flag.
        fn part<T: Ord>(a: &Option<T>, b: &Option<T>) -> std::cmp::Ordering {
            match (a, b) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.cmp(y),
            }
        }
        part(&a.0, &b.0).then(part(&a.1, &b.1)).then(part(&a.2, &b.2))
    }

    fn version() -> impl Strategy<Value = Version> {
        let number = prop_oneof![Just(i64::MIN), Just(-1i64), Just(0i64), Just(1i64), Just(i64::MAX), any::<i64>()];
        (
            proptest::option::weighted(0.9, number.clone()),
            proptest::option::weighted(0.9, number),
            proptest::option::weighted(0.9, "[0-9a-f]{0,64}|\\PC{0,8}"),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Keys compare exactly as the versions rank, and give back the id.
        #[test]
        fn keys_sort_as_the_versions_rank(a in version(), b in version()) {
            let (ka, kb) = (key(a.0, a.1, a.2.as_deref()), key(b.0, b.1, b.2.as_deref()));
            prop_assert_eq!(ka.cmp(&kb), rank(&a, &b));
            prop_assert_eq!(event_id_of(&ka), a.2.as_deref());
        }

        /// Crime keys compare as `crimes` ranks a crime's rows (version
        /// DESC NULLS FIRST, then record id ASC NULLS LAST; record ids
        /// include NUL bytes and prefixes of each other), and give back
        /// the event id.
        #[test]
        fn crime_keys_sort_as_crimes_ranks_its_rows(a in crime_row(), b in crime_row()) {
            let (ka, kb) = (crime_key(a.0, a.1.as_deref(), a.2.as_deref()), crime_key(b.0, b.1.as_deref(), b.2.as_deref()));
            let version = match (a.0, b.0) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => x.cmp(&y),
            };
            // Lower record ids rank first; NULL last.
            let record = match (&a.1, &b.1) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => y.as_bytes().cmp(x.as_bytes()),
            };
            let expected = version.then(record);
            if expected != std::cmp::Ordering::Equal {
                prop_assert_eq!(ka.cmp(&kb), expected);
            }
            prop_assert_eq!(crime_key_event_id(&ka), a.2.as_deref());
        }
    }

    type CrimeRow = (Option<i64>, Option<String>, Option<String>);

    fn crime_row() -> impl Strategy<Value = CrimeRow> {
        let number = prop_oneof![Just(i64::MIN), Just(0i64), Just(1i64), Just(2i64), Just(i64::MAX), any::<i64>()];
        (
            proptest::option::weighted(0.9, number),
            proptest::option::weighted(0.9, "[ab\\x00]{0,4}|\\PC{0,6}|R-[0-9]{1,3}"),
            proptest::option::weighted(0.9, "[0-9a-f]{0,64}"),
        )
    }
}
