//! `sample_unit(seed, key, …) -> DOUBLE in [0, 1)`: a deterministic pseudo-random number per
//! row, from a seed and any number of integer or date keys. Used for reproducible
//! downsampling: the same (seed, keys) always gives the same number, in any engine mode and
//! any partitioning.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SampleUnit {
    signature: Signature,
}

impl SampleUnit {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for SampleUnit {
    fn default() -> Self {
        Self::new()
    }
}

/// SplitMix64 finalizer: a well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ScalarUDFImpl for SampleUnit {
    fn name(&self) -> &str {
        "sample_unit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return plan_err!("sample_unit(seed, key, ...) takes a seed and at least one key");
        }
        arg_types
            .iter()
            .map(|t| {
                if t.is_integer()
                    || matches!(t, DataType::Date32 | DataType::Date64 | DataType::Null)
                {
                    Ok(DataType::Int64)
                } else {
                    plan_err!("sample_unit: keys must be integers or dates, found {t}")
                }
            })
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut ints = Vec::with_capacity(arrays.len());
        for a in &arrays {
            // Dates arrive as Date32 when coercion kept them; cast to days as Int64.
            let a = if a.data_type() == &DataType::Int64 {
                a.clone()
            } else {
                cast(&cast(a, &DataType::Int32)?, &DataType::Int64)?
            };
            let Some(values) = a.as_any().downcast_ref::<Int64Array>() else {
                return exec_err!("sample_unit: argument is not an integer");
            };
            ints.push(values.clone());
        }
        let out: Float64Array = (0..rows)
            .map(|i| {
                let mut h = 0x9e37_79b9_7f4a_7c15u64;
                for col in &ints {
                    if col.is_null(i) {
                        return None;
                    }
                    h = mix(h ^ (col.value(i) as u64));
                }
                // 53 random bits -> [0, 1).
                Some((h >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn is_deterministic_uniform_and_key_sensitive() -> datafusion::common::Result<()> {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx)?;
        let sql = "SELECT AVG(u), MIN(u), MAX(u), \
                   SUM(CASE WHEN u < 0.25 THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN sample_unit(7, v, DATE '2026-01-02') = u THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN sample_unit(8, v, DATE '2026-01-02') = u THEN 1 ELSE 0 END) \
                   FROM (SELECT value AS v, sample_unit(7, value, DATE '2026-01-02') AS u \
                         FROM generate_series(1, 100000))";
        let b = &ctx.sql(sql).await?.collect().await?[0];
        let f = |i: usize| arrow::util::display::array_value_to_string(b.column(i), 0).unwrap();
        let avg: f64 = f(0).parse().unwrap();
        assert!((avg - 0.5).abs() < 0.01, "mean {avg}");
        assert!(f(1).parse::<f64>().unwrap() >= 0.0 && f(2).parse::<f64>().unwrap() < 1.0);
        let quarter: f64 = f(3).parse().unwrap();
        assert!((quarter / 100000.0 - 0.25).abs() < 0.01, "{quarter}");
        assert_eq!(f(4), "100000", "same inputs, same number");
        assert!(
            f(5).parse::<i64>().unwrap() < 10,
            "another seed, other numbers"
        );
        Ok(())
    }
}
