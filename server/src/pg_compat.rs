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
use vru_queries::datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use vru_queries::datafusion::arrow::datatypes::{DataType, Int64Type};
use vru_queries::datafusion::common::{Result, ScalarValue};
use vru_queries::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use vru_queries::datafusion::prelude::SessionContext;

/// Registers the functions on a role's session.
pub fn register(ctx: &SessionContext) {
    // `\do`, `\dc` and `\dF` filter operators, conversions and text-search
    // configurations the way `\df` and `\dT` filter functions and types.
    for name in
        ["pg_function_is_visible", "pg_type_is_visible", "pg_operator_is_visible", "pg_conversion_is_visible", "pg_ts_config_is_visible"]
    {
        ctx.register_udf(constant(name, 1, ScalarValue::Boolean(Some(true))));
    }
    ctx.register_udf(constant("pg_table_size", 1, ScalarValue::Int64(Some(0))));
    ctx.register_udf(pg_size_pretty());
    // `\db`: the built-in tablespaces have no location (PostgreSQL's '').
    ctx.register_udf(constant("pg_tablespace_location", 1, ScalarValue::Utf8(Some(String::new()))));
    // Comments, view definitions (measure views' SQL is in the
    // repository's queries/sql, not repeated to every role here) and
    // function signatures (the lake has no user functions): NULL, as
    // PostgreSQL returns for an object without one.
    for (name, arity) in [
        ("obj_description", 2),
        ("col_description", 2),
        ("pg_get_viewdef", 2),
        ("pg_get_function_result", 1),
        ("pg_get_function_arguments", 1),
        ("pg_get_function_identity_arguments", 1),
    ] {
        ctx.register_udf(constant(name, arity, ScalarValue::Utf8(None)));
    }
}

/// A catalog function whose answer here does not depend on its arguments,
/// taking arguments of any type: psql passes oids of several types (`\do`
/// describes an operator by its `oprcode`, which this catalog holds as
/// text).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: String,
    signature: Signature,
    value: ScalarValue,
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Array(self.value.to_array_of_size(args.number_rows)? as ArrayRef))
    }
}

fn constant(name: &str, arity: usize, value: ScalarValue) -> ScalarUDF {
    ScalarUDF::new_from_impl(Constant { name: name.into(), signature: Signature::any(arity, Volatility::Stable), value })
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
