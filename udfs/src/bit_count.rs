//! `bit_count(x BIGINT) -> BIGINT`: the number of bits set in x (two's complement, so -1
//! has 64), NULL for NULL — MySQL's and Spark's `bit_count`, which DataFusion lacks.
//!
//! The profiles keep the days a pair was watched as a bitmask (`bit_or` of `1 << offset`);
//! the bits of a user's or an anchor's OR-ed masks are its distinct active days, counted
//! without a second pass over the tiles.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitCount {
    signature: Signature,
}

impl BitCount {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for BitCount {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for BitCount {
    fn name(&self) -> &str {
        "bit_count"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_integer() || *t == DataType::Null => Ok(vec![DataType::Int64]),
            [t] => plan_err!("bit_count: x must be an integer, found {t}"),
            _ => plan_err!("bit_count(x) takes 1 argument, got {}", arg_types.len()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let x = arrays[0].as_primitive::<Int64Type>();
        let out: Int64Array = x.unary(|v| i64::from(v.count_ones()));
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn counts_set_bits_of_every_integer_width() -> datafusion::common::Result<()> {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx)?;
        let sql = "SELECT bit_count(0), bit_count(CAST(11 AS TINYINT)), \
            bit_count(CAST(1 AS BIGINT) << 63), bit_count(-1), bit_count(NULL), \
            bit_count(bit_or(CAST(1 AS BIGINT) << v) | 5) \
            FROM (VALUES (3), (4), (4), (40)) t(v)";
        let batches = ctx.sql(sql).await?.collect().await?;
        let row: Vec<String> = batches[0]
            .columns()
            .iter()
            .map(|c| arrow::util::display::array_value_to_string(c, 0).unwrap())
            .collect();
        // 11 = 0b1011; 1 << 63 is i64::MIN (one bit); the OR of bits 3, 4, 40 and 0b101.
        assert_eq!(row, vec!["0", "3", "1", "64", "", "5"]);
        Ok(())
    }
}
