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
            tops: Tops::new(k_of(&args)?),
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
    let len = top.len();
    if len < k {
        // One more place, which the insertion fills.
        top.push((ts, value));
    }
    offer_in_slot(top, len, ts, value);
}

/// Offers an entry to a best-first slot of `slot.len()` places, `len` of them filled (the
/// rest spare); returns the new length. Allocates nothing: the flat slots use it directly.
fn offer_in_slot(slot: &mut [(i64, i64)], len: usize, ts: i64, value: i64) -> usize {
    let key = |e: &(i64, i64)| (std::cmp::Reverse(e.0), e.1);
    let (entry, k) = ((ts, value), slot.len());
    if len == k && key(&entry) >= key(&slot[k - 1]) {
        return len;
    }
    let pos = slot[..len].partition_point(|e| key(e) <= key(&entry));
    let new_len = (len + 1).min(k);
    slot.copy_within(pos..new_len - 1, pos + 1);
    slot[pos] = entry;
    new_len
}

/// Groups' lists taken out for emission: their entries one after another, and lengths.
#[derive(Default)]
struct Taken {
    entries: Vec<(i64, i64)>,
    lens: Vec<usize>,
}

impl Taken {
    /// One list per group; `null_if_empty` gives NULL for empty groups.
    fn to_lists(&self, pick: fn(&(i64, i64)) -> i64, null_if_empty: bool) -> ArrayRef {
        let values: Int64Array = self.entries.iter().map(|e| Some(pick(e))).collect();
        let nulls = null_if_empty.then(|| {
            arrow::buffer::NullBuffer::from(self.lens.iter().map(|n| *n > 0).collect::<Vec<_>>())
        });
        Arc::new(ListArray::new(
            item(),
            arrow::buffer::OffsetBuffer::from_lengths(self.lens.iter().copied()),
            Arc::new(values),
            nulls,
        ))
    }

    fn push(&mut self, list: &[(i64, i64)]) {
        self.entries.extend_from_slice(list);
        self.lens.push(list.len());
    }
}

/// Largest k kept in fixed slots; above it each group grows its own list.
const SLOT_MAX_K: usize = 32;

/// Every group's best-first list. For small k (the profiles' 5) one flat array of k slots
/// per group: no allocation per group and one or two cache lines touched per row, where a
/// list per group cost an allocation and two cache misses (half the query's time at a
/// 30-day window, docs/benchmarks.md). Large k keeps a growable list per group.
enum Tops {
    Slots {
        k: usize,
        entries: Vec<(i64, i64)>,
        lens: Vec<u32>,
    },
    Lists {
        k: usize,
        lists: Vec<Vec<(i64, i64)>>,
    },
}

impl Tops {
    fn new(k: usize) -> Self {
        if k <= SLOT_MAX_K {
            Tops::Slots {
                k,
                entries: Vec::new(),
                lens: Vec::new(),
            }
        } else {
            Tops::Lists {
                k,
                lists: Vec::new(),
            }
        }
    }

    fn resize(&mut self, groups: usize) {
        match self {
            Tops::Slots { k, entries, lens } => {
                entries.resize(groups * *k, (0, 0));
                lens.resize(groups, 0);
            }
            Tops::Lists { lists, .. } => lists.resize_with(groups, Vec::new),
        }
    }

    fn offer(&mut self, group: usize, ts: i64, value: i64) {
        match self {
            Tops::Slots { k, entries, lens } => {
                let slot = &mut entries[group * *k..(group + 1) * *k];
                lens[group] = offer_in_slot(slot, lens[group] as usize, ts, value) as u32;
            }
            Tops::Lists { k, lists } => offer(&mut lists[group], *k, ts, value),
        }
    }

    /// Takes the groups `emit_to` asks for; later groups move to the front.
    fn take(&mut self, emit_to: EmitTo) -> Taken {
        let mut out = Taken::default();
        match self {
            Tops::Slots { k, entries, lens } => {
                let n = match emit_to {
                    EmitTo::All => lens.len(),
                    EmitTo::First(n) => n.min(lens.len()),
                };
                for (g, len) in lens.iter().take(n).enumerate() {
                    out.push(&entries[g * *k..g * *k + *len as usize]);
                }
                entries.drain(..n * *k);
                lens.drain(..n);
            }
            Tops::Lists { lists, .. } => {
                for list in emit_to.take_needed(lists) {
                    out.push(&list);
                }
            }
        }
        out
    }

    fn size(&self) -> usize {
        match self {
            Tops::Slots { entries, lens, .. } => entries.capacity() * 16 + lens.capacity() * 4,
            Tops::Lists { lists, .. } => {
                lists.capacity() * std::mem::size_of::<Vec<(i64, i64)>>()
                    + lists.iter().map(|g| g.capacity() * 16).sum::<usize>()
            }
        }
    }
}

/// The vectorised form: one small best-first list per group.
struct LatestKGroups {
    tops: Tops,
}

impl GroupsAccumulator for LatestKGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.tops.resize(total_num_groups);
        let (v, ts) = (int64s(&values[0])?, int64s(&values[1])?);
        let all_valid = opt_filter.is_none() && v.null_count() == 0 && ts.null_count() == 0;
        let (v_all, ts_all) = (v.values(), ts.values());
        for (i, g) in group_indices.iter().enumerate() {
            let selected = all_valid
                || (opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i))
                    && v.is_valid(i)
                    && ts.is_valid(i));
            if selected {
                self.tops.offer(*g, ts_all[i], v_all[i]);
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
        self.tops.resize(total_num_groups);
        let (ts_lists, value_lists) = (values[0].as_list::<i32>(), values[1].as_list::<i32>());
        let (ts_all, value_all) = (int64s(ts_lists.values())?, int64s(value_lists.values())?);
        let (ts_all, value_all) = (ts_all.values(), value_all.values());
        let offsets = ts_lists.value_offsets();
        for (row, g) in group_indices.iter().enumerate() {
            if ts_lists.is_null(row) {
                continue;
            }
            for j in offsets[row] as usize..offsets[row + 1] as usize {
                self.tops.offer(*g, ts_all[j], value_all[j]);
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
        let mut rows = Taken::default();
        for i in 0..v.len() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if selected && v.is_valid(i) && ts.is_valid(i) {
                rows.push(&[(ts.value(i), v.value(i))]);
            } else {
                rows.push(&[]);
            }
        }
        Ok(vec![
            rows.to_lists(|e| e.0, false),
            rows.to_lists(|e| e.1, false),
        ])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.tops.take(emit_to).to_lists(|e| e.1, true))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.tops.take(emit_to);
        Ok(vec![
            taken.to_lists(|e| e.0, false),
            taken.to_lists(|e| e.1, false),
        ])
    }

    fn size(&self) -> usize {
        self.tops.size()
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
        // Many groups, ties in ts, several partitions: the UDAF must equal the SQL definition,
        // with k in fixed slots (1, 5, 32) and in growable lists (40, more than some groups hold).
        for k in [1, 5, 32, 40, 300] {
            let sql = format!(
                "WITH t AS (
                    SELECT value % 97 AS g, (value * 7919) % 1000 AS v,
                           to_timestamp_seconds((value * 104729) % 50) AS ts
                    FROM generate_series(1, 20000))
                SELECT COUNT(*) FROM (
                    SELECT g, latest_k(v, ts, {k}) AS a,
                           array_slice(array_agg(v ORDER BY ts DESC, v), 1, {k}) AS b
                    FROM t GROUP BY g) WHERE a = b"
            );
            let batches = ctx.sql(&sql).await?.collect().await?;
            let n = arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap();
            assert_eq!(n, "97", "k = {k}");
        }
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
