//! `ts_in_day(ts, dt) -> BOOLEAN`: whether an event timestamp lies inside the UTC day `dt`.
//!
//! Used by the data-quality checks: an event's day is its `dt` partition, and a row whose
//! `ts` falls outside that day is misfiled or late. Accepts any timestamp unit, with or without
//! a time zone (a naive timestamp is read as UTC), and `dt` as DATE or as a string in any of
//! Arrow's encodings (Utf8, LargeUtf8, Utf8View), since Ballista and DataFusion differ there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

const MICROS_PER_DAY: i64 = 86_400_000_000;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TsInDay {
    signature: Signature,
}

impl TsInDay {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for TsInDay {
    fn default() -> Self {
        Self::new()
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl ScalarUDFImpl for TsInDay {
    fn name(&self) -> &str {
        "ts_in_day"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "ts_in_day(ts, dt) takes 2 arguments, got {}",
                arg_types.len()
            );
        }
        let ts = match &arg_types[0] {
            DataType::Timestamp(_, _) | DataType::Null => utc_micros(),
            other => return plan_err!("ts_in_day: ts must be a TIMESTAMP, found {other}"),
        };
        let dt = match &arg_types[1] {
            DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null => DataType::Date32,
            other => return plan_err!("ts_in_day: dt must be a DATE or a string, found {other}"),
        };
        Ok(vec![ts, dt])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ts = arrays[0]
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>();
        let dt = arrays[1].as_any().downcast_ref::<Date32Array>();
        let (Some(ts), Some(dt)) = (ts, dt) else {
            return exec_err!(
                "ts_in_day: arguments were not coerced (got {} and {})",
                arrays[0].data_type(),
                arrays[1].data_type()
            );
        };
        let out: BooleanArray = (0..rows)
            .map(|i| {
                if ts.is_null(i) || dt.is_null(i) {
                    return None;
                }
                let start = i64::from(dt.value(i)) * MICROS_PER_DAY;
                let t = ts.value(i);
                Some(t >= start && t < start + MICROS_PER_DAY)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn accepts_every_string_encoding_and_timestamp_unit() -> datafusion::common::Result<()> {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx)?;
        let sql = "SELECT \
            ts_in_day(TIMESTAMP '2026-01-02 23:59:59', '2026-01-02'), \
            ts_in_day(TIMESTAMP '2026-01-03 00:00:00', arrow_cast('2026-01-02', 'LargeUtf8')), \
            ts_in_day(arrow_cast(TIMESTAMP '2026-01-02 00:00:00', 'Timestamp(Second, None)'), arrow_cast('2026-01-02', 'Utf8View')), \
            ts_in_day(arrow_cast(TIMESTAMP '2026-01-01 23:00:00', 'Timestamp(Millisecond, Some(\"+02:00\"))'), DATE '2026-01-02'), \
            ts_in_day(NULL, DATE '2026-01-02')";
        let batches = ctx.sql(sql).await?.collect().await?;
        let row: Vec<String> = batches[0]
            .columns()
            .iter()
            .map(|c| arrow::util::display::array_value_to_string(c, 0).unwrap())
            .collect();
        // 23:00 at +02:00 is 21:00 UTC on Jan 1: outside Jan 2.
        assert_eq!(row, vec!["true", "false", "true", "false", ""]);
        Ok(())
    }
}
