//! `latest_k(value BIGINT, ts TIMESTAMP, k BIGINT literal) -> LIST<BIGINT>`: the values of the
//! k most recent rows of a group, newest first (ties: smaller value first). Same result as
//! `array_slice(array_agg(value ORDER BY ts DESC, value), 1, k)`, but keeps only k entries
//! per group and merges partial states, instead of sorting every row of the group: on the
//! user profile's "last anchors watched" it took the query from 2.5 s to a fraction of that.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use crate::args::{int_literal, int64s};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LatestK {
    signature: Signature,
}

impl LatestK {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for LatestK {
    fn default() -> Self {
        Self::new()
    }
}

fn item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Int64, true))
}

fn list() -> DataType {
    DataType::List(item())
}

impl AggregateUDFImpl for LatestK {
    fn name(&self) -> &str {
        "latest_k"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!("latest_k(value, ts, k) takes 3 arguments");
        }
        if !arg_types[0].is_integer() {
            return plan_err!("latest_k: value must be an integer, found {}", arg_types[0]);
        }
        // Any timestamp unit orders the same way within one column, so the raw count is used.
        if !matches!(arg_types[1], DataType::Timestamp(_, _)) && !arg_types[1].is_integer() {
            return plan_err!("latest_k: ts must be a timestamp, found {}", arg_types[1]);
        }
        Ok(vec![DataType::Int64, DataType::Int64, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(format!("{}[ts]", args.name), list(), true)),
            Arc::new(Field::new(format!("{}[values]", args.name), list(), true)),
        ])
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let k = k_of(&acc_args)?;
        Ok(Box::new(LatestKAccumulator {
            k,
            top: Vec::with_capacity(k),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(LatestKGroups {
            k: k_of(&args)?,
            groups: Vec::new(),
        }))
    }
}

fn k_of(acc_args: &AccumulatorArgs) -> Result<usize> {
    match int_literal(acc_args, 2) {
        Some(k) if (1..=10_000).contains(&k) => Ok(k as usize),
        _ => exec_err!("latest_k: k must be an integer literal between 1 and 10000"),
    }
}

/// Offers (ts, value) to a best-first list of at most k entries: newer first, then smaller value.
fn offer(top: &mut Vec<(i64, i64)>, k: usize, ts: i64, value: i64) {
    let key = |e: &(i64, i64)| (std::cmp::Reverse(e.0), e.1);
    let entry = (ts, value);
    if top.len() == k && key(&entry) >= key(top.last().expect("k >= 1")) {
        return;
    }
    let pos = top.partition_point(|e| key(e) <= key(&entry));
    top.insert(pos, entry);
    top.truncate(k);
}

/// Builds a list array, one list per group; `null_if_empty` gives NULL for empty groups.
fn to_lists(
    groups: &[Vec<(i64, i64)>],
    pick: fn(&(i64, i64)) -> i64,
    null_if_empty: bool,
) -> ArrayRef {
    let values: Int64Array = groups.iter().flatten().map(|e| Some(pick(e))).collect();
    let nulls = null_if_empty.then(|| {
        arrow::buffer::NullBuffer::from(groups.iter().map(|g| !g.is_empty()).collect::<Vec<_>>())
    });
    Arc::new(ListArray::new(
        item(),
        arrow::buffer::OffsetBuffer::from_lengths(groups.iter().map(Vec::len)),
        Arc::new(values),
        nulls,
    ))
}

/// The vectorised form: one small best-first list per group.
struct LatestKGroups {
    k: usize,
    groups: Vec<Vec<(i64, i64)>>,
}

impl GroupsAccumulator for LatestKGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let (v, ts) = (int64s(&values[0])?, int64s(&values[1])?);
        for (i, g) in group_indices.iter().enumerate() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if selected && v.is_valid(i) && ts.is_valid(i) {
                offer(&mut self.groups[*g], self.k, ts.value(i), v.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let (ts_lists, value_lists) = (values[0].as_list::<i32>(), values[1].as_list::<i32>());
        let (ts_all, value_all) = (int64s(ts_lists.values())?, int64s(value_lists.values())?);
        let offsets = ts_lists.value_offsets();
        for (row, g) in group_indices.iter().enumerate() {
            if ts_lists.is_null(row) {
                continue;
            }
            for j in offsets[row] as usize..offsets[row + 1] as usize {
                offer(
                    &mut self.groups[*g],
                    self.k,
                    ts_all.value(j),
                    value_all.value(j),
                );
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-entry state (skipping the partial aggregation).
        let (v, ts) = (int64s(&values[0])?, int64s(&values[1])?);
        let rows: Vec<Vec<(i64, i64)>> = (0..v.len())
            .map(|i| {
                let selected = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
                if selected && v.is_valid(i) && ts.is_valid(i) {
                    vec![(ts.value(i), v.value(i))]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Ok(vec![
            to_lists(&rows, |e| e.0, false),
            to_lists(&rows, |e| e.1, false),
        ])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(to_lists(
            &emit_to.take_needed(&mut self.groups),
            |e| e.1,
            true,
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = emit_to.take_needed(&mut self.groups);
        Ok(vec![
            to_lists(&taken, |e| e.0, false),
            to_lists(&taken, |e| e.1, false),
        ])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<(i64, i64)>>()
            + self.groups.iter().map(|g| g.capacity() * 16).sum::<usize>()
    }
}

/// Keeps the k best (ts desc, value asc) entries, sorted best first.
#[derive(Debug)]
struct LatestKAccumulator {
    k: usize,
    top: Vec<(i64, i64)>,
}

impl LatestKAccumulator {
    fn offer(&mut self, ts: i64, value: i64) {
        offer(&mut self.top, self.k, ts, value);
    }

    fn lists(&self) -> (ScalarValue, ScalarValue) {
        let ts: Int64Array = self.top.iter().map(|e| Some(e.0)).collect();
        let values: Int64Array = self.top.iter().map(|e| Some(e.1)).collect();
        let wrap = |a: Int64Array| {
            ScalarValue::List(Arc::new(ListArray::new(
                item(),
                arrow::buffer::OffsetBuffer::from_lengths([a.len()]),
                Arc::new(a),
                None,
            )))
        };
        (wrap(ts), wrap(values))
    }
}

impl Accumulator for LatestKAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (v, ts) = (int64s(&values[0])?, int64s(&values[1])?);
        for i in 0..v.len() {
            if v.is_valid(i) && ts.is_valid(i) {
                self.offer(ts.value(i), v.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (ts_lists, value_lists) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..ts_lists.len() {
            if ts_lists.is_null(row) || value_lists.is_null(row) {
                continue;
            }
            let ts = int64s(&ts_lists.value(row))?;
            let values = int64s(&value_lists.value(row))?;
            for i in 0..ts.len() {
                self.offer(ts.value(i), values.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (ts, values) = self.lists();
        Ok(vec![ts, values])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.top.is_empty() {
            return Ok(ScalarValue::List(Arc::new(ListArray::new_null(item(), 1))));
        }
        Ok(self.lists().1)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.top.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn equals_ordered_array_agg_slice() -> datafusion::common::Result<()> {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx)?;
        // Many groups, ties in ts, several partitions: the UDAF must equal the SQL definition.
        let sql = "WITH t AS (
                SELECT value % 97 AS g, (value * 7919) % 1000 AS v,
                       to_timestamp_seconds((value * 104729) % 50) AS ts
                FROM generate_series(1, 20000))
            SELECT COUNT(*) FROM (
                SELECT g, latest_k(v, ts, 5) AS a,
                       array_slice(array_agg(v ORDER BY ts DESC, v), 1, 5) AS b
                FROM t GROUP BY g) WHERE a = b";
        let batches = ctx.sql(sql).await?.collect().await?;
        let n = arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
        assert_eq!(n, "97");
        // Without GROUP BY the row-wise accumulator is used: same definition.
        let sql = "WITH t AS (
                SELECT (value * 7919) % 1000 AS v, to_timestamp_seconds((value * 104729) % 50) AS ts
                FROM generate_series(1, 5000))
            SELECT latest_k(v, ts, 3) = array_slice(array_agg(v ORDER BY ts DESC, v), 1, 3) FROM t";
        let batches = ctx.sql(sql).await?.collect().await?;
        let same = arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
        assert_eq!(same, "true");
        Ok(())
    }
}
