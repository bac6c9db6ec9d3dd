//! Reading UDAF arguments: literal parameters (a `$parameter` arrives as a literal once
//! bound) and integer or float columns of any width.

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::physical_expr::expressions::Literal;

fn literal(args: &AccumulatorArgs, i: usize) -> Option<ScalarValue> {
    args.exprs
        .get(i)
        .and_then(|e| e.downcast_ref::<Literal>())
        .map(|lit| lit.value().clone())
}

/// Argument `i` as an integer literal.
pub fn int_literal(args: &AccumulatorArgs, i: usize) -> Option<i64> {
    match literal(args, i)? {
        ScalarValue::Int64(Some(v)) => Some(v),
        ScalarValue::Int32(Some(v)) => Some(i64::from(v)),
        ScalarValue::UInt64(Some(v)) => i64::try_from(v).ok(),
        _ => None,
    }
}

/// Argument `i` as a boolean literal.
pub fn bool_literal(args: &AccumulatorArgs, i: usize) -> Option<bool> {
    match literal(args, i)? {
        ScalarValue::Boolean(Some(b)) => Some(b),
        _ => None,
    }
}

/// Argument `i` as a string literal, whatever its string encoding.
pub fn string_literal(args: &AccumulatorArgs, i: usize) -> Option<String> {
    match literal(args, i)? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s),
        _ => None,
    }
}

/// A column as BIGINT (a no-op when it already is).
pub fn int64s(a: &ArrayRef) -> Result<Int64Array> {
    Ok(cast(a, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// A column as DOUBLE.
pub fn float64s(a: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(a, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}
