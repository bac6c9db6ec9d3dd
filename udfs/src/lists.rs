//! List columns in and out of the recommenders' UDAFs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};

/// `LIST<data_type>` with nullable items named "item" (Arrow's default).
pub fn list_of(data_type: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", data_type, true)))
}

/// A list array of consecutive runs of `values` with the given lengths.
pub fn list_array(data_type: DataType, lengths: Vec<usize>, values: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", data_type, true)),
        OffsetBuffer::from_lengths(lengths),
        values,
        None,
    ))
}

/// A list column as (offsets into `values`, nulls, values), whatever its offset width.
pub fn list_parts(a: &ArrayRef) -> Result<(Vec<usize>, Option<NullBuffer>, ArrayRef)> {
    let list = match a.data_type() {
        DataType::List(_) => a.as_list::<i32>().clone(),
        DataType::LargeList(f) => cast(a, &DataType::List(f.clone()))?
            .as_list::<i32>()
            .clone(),
        other => return exec_err!("expected a list argument, found {other}"),
    };
    let offsets = list.value_offsets().iter().map(|o| *o as usize).collect();
    let (_, _, values, nulls) = list.into_parts();
    Ok((offsets, nulls, values))
}
