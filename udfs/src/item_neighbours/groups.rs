//! The accumulator: input batches are kept, and a group is computed only when it is emitted
//! (`product.rs`). Partial states carry the group's likes on unchanged, so a group's work is
//! done once, by the task that finalizes it.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StructArray, UInt64Array,
};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::product::{Likes, Lists, Parallelism, Params, neighbour_lists};
use super::{entry_fields, output_fields};
use crate::args::{float64s, int64s};
use crate::held_groups::{HeldGroups, Run};
use crate::lists::{list_array, list_parts};

/// One batch of input rows (one like each) or of partial states (many likes each), typed
/// once: row r holds entries `rows[r]..rows[r + 1]` (input rows: entry r alone).
struct Held {
    bucket: Int64Array,
    users: Int64Array,
    rows: Option<Vec<usize>>,
    user: Int64Array,
    item: Int64Array,
    x: Float64Array,
    norm2: Float64Array,
}

impl Held {
    fn entries(&self, row: usize) -> Range<usize> {
        match &self.rows {
            Some(rows) => rows[row]..rows[row + 1],
            None => row..row + 1,
        }
    }

    fn is_like(&self, e: usize) -> bool {
        self.user.is_valid(e) && self.item.is_valid(e) && self.x.is_valid(e)
    }

    /// Appends the likes among `entries` to `runs` as runs of consecutive entries (one run
    /// when none is NULL).
    fn like_runs(
        &self,
        batch: usize,
        entries: Range<usize>,
        runs: &mut Vec<(usize, Range<usize>)>,
    ) {
        let nulls = [
            self.user.null_count(),
            self.item.null_count(),
            self.x.null_count(),
        ];
        if nulls.iter().all(|&n| n == 0) {
            runs.push((batch, entries));
            return;
        }
        for e in entries.filter(|&e| self.is_like(e)) {
            match runs.last_mut() {
                Some((b, run)) if *b == batch && run.end == e => run.end = e + 1,
                _ => runs.push((batch, e..e + 1)),
            }
        }
    }
}

/// What is known of a group besides its likes.
#[derive(Clone, Copy, Default)]
struct GroupHead {
    bucket: Option<i64>,
    users: Option<i64>,
}

pub struct NeighboursGroups {
    params: Params,
    held: HeldGroups<Held>,
    heads: Vec<GroupHead>,
    likes: Likes,
}

/// The user / item / x / norm2 columns of state entries.
fn entry_columns(
    values: &ArrayRef,
) -> Result<(Int64Array, Int64Array, Float64Array, Float64Array)> {
    let Some(entries) = values.as_struct_opt() else {
        return exec_err!("item_neighbours: state entries must be struct(user, item, x, norm2)");
    };
    if entries.num_columns() != 4 {
        return exec_err!("item_neighbours: state entries must be struct(user, item, x, norm2)");
    }
    Ok((
        int64s(entries.column(0))?,
        int64s(entries.column(1))?,
        float64s(entries.column(2))?,
        float64s(entries.column(3))?,
    ))
}

impl NeighboursGroups {
    pub fn new(params: Params) -> Self {
        Self {
            params,
            held: HeldGroups::default(),
            heads: Vec::new(),
            likes: Likes::default(),
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        self.heads.resize_with(total_num_groups, GroupHead::default);
        self.held.resize(total_num_groups);
    }

    /// Keeps a batch; a kept row also tells its group's bucket and user count.
    fn hold(
        &mut self,
        held: Held,
        arrays: &[ArrayRef],
        valid: impl Fn(usize) -> bool,
        group_indices: &[usize],
    ) {
        let heads = &mut self.heads;
        self.held.hold(held, arrays, group_indices, |held, row, g| {
            let keep = valid(row) && held.bucket.is_valid(row);
            if keep {
                let head = &mut heads[g];
                head.bucket = Some(held.bucket.value(row));
                if held.users.is_valid(row) {
                    head.users = Some(held.users.value(row));
                }
            }
            keep
        });
    }

    /// The likes of a group's rows, as (batch, runs of entries).
    fn like_runs(&self, sources: &[Run]) -> Vec<(usize, Range<usize>)> {
        let mut out = Vec::new();
        for Run { batch, rows } in sources {
            let held = &self.held.batches[*batch];
            let entries = held.entries(rows.start).start..held.entries(rows.end - 1).end;
            held.like_runs(*batch, entries, &mut out);
        }
        out
    }

    /// Copies one group's likes into `self.likes`.
    fn gather(&mut self, sources: &[Run]) {
        let runs = self.like_runs(sources);
        let likes = &mut self.likes;
        likes.clear();
        likes.reserve(runs.iter().map(|(_, run)| run.len()).sum());
        for (h, run) in runs {
            let held = &self.held.batches[h];
            likes.extend(
                &held.user.values()[run.clone()],
                &held.item.values()[run.clone()],
                &held.x.values()[run.clone()],
                &held.norm2,
                run.start,
            );
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<GroupHead>, Vec<Vec<Run>>) {
        (
            emit_to.take_needed(&mut self.heads),
            self.held.take(emit_to),
        )
    }

    fn neighbour_lists(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (heads, sources) = self.take(emit_to);
        let mut out = Lists::default();
        let mut lengths = Vec::with_capacity(heads.len());
        // Once per emission, not per bucket: it reads the process's CPU limits.
        let parallelism = Parallelism::of_machine();
        for (head, sources) in heads.into_iter().zip(&sources) {
            let before = out.anchor.len();
            if let Some(bucket) = head.bucket {
                self.gather(sources);
                neighbour_lists(
                    &self.likes,
                    bucket,
                    head.users,
                    self.params,
                    parallelism,
                    &mut out,
                )?;
            }
            lengths.push(out.anchor.len() - before);
        }
        self.likes.clear();
        self.held.release_if_done();
        let values = StructArray::new(
            output_fields(),
            vec![
                Arc::new(Int64Array::from(out.anchor)),
                Arc::new(Int64Array::from(out.neighbor)),
                Arc::new(Float64Array::from(out.score)),
                Arc::new(Int64Array::from(out.cooccurrence)),
                Arc::new(UInt64Array::from(out.rank)),
            ],
            None,
        );
        Ok(list_array(
            DataType::Struct(output_fields()),
            lengths,
            Arc::new(values),
        ))
    }

    /// Partial states carry the likes on: (bucket, users, entries).
    fn partial_states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (heads, sources) = self.take(emit_to);
        let (mut buckets, mut users, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        let runs: Vec<_> = sources.iter().map(|s| self.like_runs(s)).collect();
        let total = runs.iter().flatten().map(|(_, run)| run.len()).sum();
        let (mut user, mut item, mut x) = (
            Vec::with_capacity(total),
            Vec::with_capacity(total),
            Vec::with_capacity(total),
        );
        let mut norm2: Vec<Option<f64>> = Vec::with_capacity(total);
        for (head, runs) in heads.into_iter().zip(runs) {
            let before = user.len();
            for (h, run) in runs {
                let held = &self.held.batches[h];
                user.extend_from_slice(&held.user.values()[run.clone()]);
                item.extend_from_slice(&held.item.values()[run.clone()]);
                x.extend_from_slice(&held.x.values()[run.clone()]);
                norm2.extend(run.map(|e| held.norm2.is_valid(e).then(|| held.norm2.value(e))));
            }
            buckets.push(head.bucket);
            users.push(head.users);
            counts.push(user.len() - before);
        }
        self.held.release_if_done();
        let entries = StructArray::new(
            entry_fields(),
            vec![
                Arc::new(Int64Array::from(user)),
                Arc::new(Int64Array::from(item)),
                Arc::new(Float64Array::from(x)),
                Arc::new(Float64Array::from(norm2)),
            ],
            None,
        );
        Ok(vec![
            Arc::new(Int64Array::from(buckets)),
            Arc::new(Int64Array::from(users)),
            list_array(DataType::Struct(entry_fields()), counts, Arc::new(entries)),
        ])
    }
}

impl GroupsAccumulator for NeighboursGroups {
    /// Arguments: user, item, x, bucket, buckets, norm2, users, similarity, min_co, k.
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let held = Held {
            bucket: int64s(&values[3])?,
            users: int64s(&values[6])?,
            rows: None,
            user: int64s(&values[0])?,
            item: int64s(&values[1])?,
            x: float64s(&values[2])?,
            norm2: float64s(&values[5])?,
        };
        let valid = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        self.hold(held, values, valid, group_indices);
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (offsets, _, entries) = list_parts(&values[2])?;
        let (user, item, x, norm2) = entry_columns(&entries)?;
        let held = Held {
            bucket: int64s(&values[0])?,
            users: int64s(&values[1])?,
            // Offsets into the whole entries array, as `list_parts` gives them.
            rows: Some(offsets),
            user,
            item,
            x,
            norm2,
        };
        self.hold(held, values, |_| true, group_indices);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group (if the engine skips a partial aggregation that does not reduce).
        let mut rows = NeighboursGroups::new(self.params);
        let groups: Vec<usize> = (0..values[0].len()).collect();
        rows.update_batch(values, &groups, opt_filter, groups.len())?;
        rows.partial_states(EmitTo::All)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.neighbour_lists(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.partial_states(emit_to)
    }

    fn size(&self) -> usize {
        self.held.size()
            + self.likes.capacity_bytes()
            + self.heads.capacity() * std::mem::size_of::<GroupHead>()
    }
}
