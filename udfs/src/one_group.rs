//! A vectorised `GroupsAccumulator` used as a plain `Accumulator` (an aggregate without
//! GROUP BY: one group), so each UDAF is written once.

use arrow::array::{Array, ArrayRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

pub struct OneGroup<G>(pub G);

impl<G> std::fmt::Debug for OneGroup<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneGroup")
    }
}

/// The first row of each array, or a NULL of its type when nothing was aggregated.
fn first_row(arrays: &[ArrayRef]) -> Result<Vec<ScalarValue>> {
    arrays
        .iter()
        .map(|a| {
            if a.is_empty() {
                ScalarValue::try_from(a.data_type())
            } else {
                ScalarValue::try_from_array(a, 0)
            }
        })
        .collect()
}

impl<G: GroupsAccumulator + Sync> Accumulator for OneGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        first_row(&self.0.state(EmitTo::All)?)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(first_row(&[self.0.evaluate(EmitTo::All)?])?.remove(0))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.size()
    }
}
