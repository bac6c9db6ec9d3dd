//! The recommenders' UDAFs compute a group only when it is emitted: until then they keep the
//! input batches and, per group, where its rows are. This is that bookkeeping.

use std::ops::Range;

use arrow::array::ArrayRef;
use datafusion::logical_expr::EmitTo;

/// Consecutive rows of one held batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub batch: usize,
    pub rows: Range<usize>,
}

/// Every (batch, row) of a group's runs, in order.
pub fn rows_of(runs: &[Run]) -> impl Iterator<Item = (usize, usize)> + '_ {
    runs.iter()
        .flat_map(|run| run.rows.clone().map(move |row| (run.batch, row)))
}

/// Batches of type `B` kept until their groups are emitted, and each group's rows as runs
/// of consecutive rows (a group fed whole batches costs one entry per batch, not per row).
pub struct HeldGroups<B> {
    pub batches: Vec<B>,
    sources: Vec<Vec<Run>>,
    bytes: usize,
}

impl<B> Default for HeldGroups<B> {
    fn default() -> Self {
        Self {
            batches: Vec::new(),
            sources: Vec::new(),
            bytes: 0,
        }
    }
}

impl<B> HeldGroups<B> {
    pub fn resize(&mut self, total_num_groups: usize) {
        self.sources.resize_with(total_num_groups, Vec::new);
    }

    /// Keeps `batch` (made from `arrays`, for the memory account) and adds each row for which
    /// `keep(row, group)` holds to its group.
    pub fn hold(
        &mut self,
        batch: B,
        arrays: &[ArrayRef],
        group_indices: &[usize],
        mut keep: impl FnMut(&B, usize, usize) -> bool,
    ) {
        let b = self.batches.len();
        for (row, g) in group_indices.iter().enumerate() {
            if keep(&batch, row, *g) {
                let runs = &mut self.sources[*g];
                match runs.last_mut() {
                    Some(run) if run.batch == b && run.rows.end == row => run.rows.end = row + 1,
                    _ => runs.push(Run {
                        batch: b,
                        rows: row..row + 1,
                    }),
                }
            }
        }
        self.bytes += arrays
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum::<usize>();
        self.batches.push(batch);
    }

    /// The rows of the groups to emit, taken out.
    pub fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Run>> {
        emit_to.take_needed(&mut self.sources)
    }

    /// Drops the batches once every group is emitted (nothing refers to them any more).
    pub fn release_if_done(&mut self) {
        if self.sources.is_empty() {
            self.batches.clear();
            self.bytes = 0;
        }
    }

    pub fn size(&self) -> usize {
        self.bytes
            + self
                .sources
                .iter()
                .map(|s| s.capacity() * std::mem::size_of::<Run>() + 24)
                .sum::<usize>()
    }
}
