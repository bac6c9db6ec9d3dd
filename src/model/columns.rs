//! Decoding Arrow columns into model inputs: numeric features as f64 (null = NaN), string
//! features in any encoding (Utf8, LargeUtf8, Utf8View, dictionary), labels and weights.
//! Bad values are errors naming the column and the rule.

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

fn column<'a>(batch: &'a RecordBatch, name: &str, source: &str) -> Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .with_context(|| format!("{source}: no column `{name}`"))
}

/// A numeric column as f64; null becomes NaN (missing). Infinite values are refused.
pub fn numeric(batch: &RecordBatch, name: &str, source: &str, out: &mut Vec<f64>) -> Result<()> {
    let array = column(batch, name, source)?;
    if !array.data_type().is_numeric() && array.data_type() != &DataType::Boolean {
        bail!(
            "{source}: column `{name}` is {} but the model reads it as numeric",
            array.data_type()
        );
    }
    let values = cast(array, &DataType::Float64)
        .with_context(|| format!("{source}: column `{name}`: casting to float64"))?;
    let values = values.as_primitive::<Float64Type>();
    for i in 0..values.len() {
        if values.is_null(i) {
            out.push(f64::NAN);
        } else {
            let v = values.value(i);
            if v.is_infinite() {
                bail!(
                    "{source}: column `{name}` row {i}: infinite value (rule: features are finite or null)"
                );
            }
            out.push(v);
        }
    }
    Ok(())
}

/// A string-like column as optional strings (any string encoding; integers are rendered).
pub fn strings(batch: &RecordBatch, name: &str, source: &str) -> Result<Vec<Option<String>>> {
    let array = column(batch, name, source)?;
    let values = cast(array, &DataType::Utf8).with_context(|| {
        format!(
            "{source}: column `{name}` ({}) cannot be read as a category",
            array.data_type()
        )
    })?;
    let values = values.as_string::<i32>();
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i).to_string()))
        .collect())
}

/// A 0/1 label column; null or any other value is an error.
pub fn label(batch: &RecordBatch, name: &str, source: &str, out: &mut Vec<f64>) -> Result<()> {
    let start = out.len();
    numeric(batch, name, source, out)?;
    if let Some((i, v)) = out[start..]
        .iter()
        .enumerate()
        .find(|(_, v)| **v != 0.0 && **v != 1.0)
    {
        bail!(
            "{source}: label column `{name}` row {i} is {v} (rule: labels are 0 or 1, never null)"
        );
    }
    Ok(())
}

/// A sample-weight column; must be finite and > 0.
pub fn weight(batch: &RecordBatch, name: &str, source: &str, out: &mut Vec<f64>) -> Result<()> {
    let start = out.len();
    numeric(batch, name, source, out)?;
    if let Some((i, v)) = out[start..]
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        bail!("{source}: weight column `{name}` row {i} is {v} (rule: weights are finite and > 0)");
    }
    Ok(())
}

/// An integer id column (user_id, anchor_id) as i64; null is an error.
pub fn ids(batch: &RecordBatch, name: &str, source: &str, out: &mut Vec<i64>) -> Result<()> {
    let array = column(batch, name, source)?;
    let values = cast(array, &DataType::Int64)
        .with_context(|| format!("{source}: column `{name}`: casting to int64"))?;
    let values = values.as_primitive::<arrow::datatypes::Int64Type>();
    if values.null_count() > 0 {
        bail!("{source}: id column `{name}` has nulls");
    }
    out.extend(values.values().iter().copied());
    Ok(())
}
