//! Catalog functions psql's describe commands call that the pg_catalog
//! layer (datafusion-pg-catalog) does not provide yet: `\d+`, `\dt+` and
//! `\dv+` size each relation with `pg_size_pretty(pg_table_size(oid))`;
//! `\df` and `\dT` filter with `pg_function_is_visible` and
//! `pg_type_is_visible`, and descriptions (`obj_description`) and
//! function signatures (`pg_get_function_result`), view definitions (`pg_get_viewdef`). Lake tables have no size in PostgreSQL's sense
//! (they are Delta tables read on demand), so a size is 0 bytes; every
//! object in the catalog is visible to the role that sees it. Written in
//! the crate's own style so they can be offered upstream.

use std::sync::Arc;
use vru_queries::datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use vru_queries::datafusion::arrow::datatypes::{DataType, Int64Type};
use vru_queries::datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use vru_queries::datafusion::prelude::SessionContext;

/// Registers the functions on a role's session.
pub fn register(ctx: &SessionContext) {
    for name in ["pg_function_is_visible", "pg_type_is_visible"] {
        ctx.register_udf(always_true(name));
    }
    ctx.register_udf(pg_table_size());
    ctx.register_udf(pg_size_pretty());
    ctx.register_udf(null_text("obj_description", vec![DataType::Int32, DataType::Utf8]));
    ctx.register_udf(null_text("col_description", vec![DataType::Int32, DataType::Int32]));
    // `\d+ VIEW` shows the definition; measure views' SQL is in the
    // repository's queries/sql, not repeated to every role here.
    ctx.register_udf(null_text("pg_get_viewdef", vec![DataType::Int32, DataType::Boolean]));
    for name in ["pg_get_function_result", "pg_get_function_arguments", "pg_get_function_identity_arguments"] {
        ctx.register_udf(null_text(name, vec![DataType::Int32]));
    }
}

/// A text function with no answer here (comments, function signatures:
/// the lake has no comments and no user functions): NULL, as PostgreSQL
/// returns for an object without one.
fn null_text(name: &str, args: Vec<DataType>) -> ScalarUDF {
    let f = |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(vec![None::<&str>; args[0].len()])) as ArrayRef))
    };
    create_udf(name, args, DataType::Utf8, Volatility::Stable, Arc::new(f))
}

fn always_true(name: &str) -> ScalarUDF {
    let f = |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(vec![true; args[0].len()])) as ArrayRef))
    };
    create_udf(name, vec![DataType::Int32], DataType::Boolean, Volatility::Stable, Arc::new(f))
}

fn pg_table_size() -> ScalarUDF {
    let f = |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(vec![0i64; args[0].len()])) as ArrayRef))
    };
    create_udf("pg_table_size", vec![DataType::Int32], DataType::Int64, Volatility::Stable, Arc::new(f))
}

fn pg_size_pretty() -> ScalarUDF {
    let f = |args: &[ColumnarValue]| {
        let args = ColumnarValue::values_to_arrays(args)?;
        let sizes = args[0].as_primitive::<Int64Type>();
        let out: StringArray = sizes.iter().map(|v| v.map(size_pretty)).collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    };
    create_udf("pg_size_pretty", vec![DataType::Int64], DataType::Utf8, Volatility::Immutable, Arc::new(f))
}

/// PostgreSQL's rendering: bytes below 10 kB, then kB, MB, GB, TB, each
/// unit used while the value is below 10240 of it, halves rounded away.
pub fn size_pretty(bytes: i64) -> String {
    let units = ["kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    if v.abs() < 10 * 1024 {
        return format!("{v} bytes");
    }
    for (i, u) in units.iter().enumerate() {
        // Divide by 1024 with rounding half away from zero, as PostgreSQL.
        let half = if v < 0 { -512 } else { 512 };
        v = (v + half) / 1024;
        if v.abs() < 10 * 1024 || i == units.len() - 1 {
            return format!("{v} {u}");
        }
    }
    unreachable!("the last unit returns")
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn sizes_read_as_in_postgres() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10_239), "10239 bytes");
        assert_eq!(size_pretty(10_240), "10 kB");
        assert_eq!(size_pretty(1_048_576), "1024 kB");
        assert_eq!(size_pretty(10_485_760), "10 MB");
        assert_eq!(size_pretty(5 * 1024 * 1024 * 1024), "5120 MB");
    }
}
