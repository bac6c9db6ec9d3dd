//! The input rows of a logistic regression, stored as the models need them: a few
//! real-valued columns per row (LR's standardized numeric features), then 0/1 columns kept
//! as the list of those that are 1 (one-hot categories, GBDT+LR's one leaf per tree). Row
//! passes run in parallel over fixed blocks of rows whose results are combined in block
//! order, so sums do not depend on the number of threads.

use rayon::prelude::*;

/// Rows per block of a parallel pass.
const BLOCK: usize = 8192;

#[derive(Debug, Default, Clone)]
pub struct Design {
    /// Real-valued inputs, row-major: columns `0..dense_width`.
    dense: Vec<f64>,
    dense_width: usize,
    /// Start of each row's active 0/1 columns in `active`, plus the end: `rows + 1` entries.
    offsets: Vec<usize>,
    /// Active 0/1 columns (each in `dense_width..width`).
    active: Vec<u32>,
    width: usize,
}

impl Design {
    /// Room for `rows` rows with `active` active 0/1 inputs in all, allocated once.
    pub fn with_capacity(dense_width: usize, width: usize, rows: usize, active: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            dense: Vec::with_capacity(rows * dense_width),
            dense_width,
            offsets,
            active: Vec::with_capacity(active),
            width,
        }
    }

    /// Appends a row: its `dense_width` real values and its active 0/1 columns.
    pub fn push_row(&mut self, dense: &[f64], active: impl IntoIterator<Item = usize>) {
        debug_assert_eq!(dense.len(), self.dense_width);
        self.dense.extend_from_slice(dense);
        for c in active {
            debug_assert!(c >= self.dense_width && c < self.width);
            self.active.push(c as u32);
        }
        self.offsets.push(self.active.len());
    }

    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn dense_row(&self, i: usize) -> &[f64] {
        &self.dense[i * self.dense_width..(i + 1) * self.dense_width]
    }

    pub(crate) fn active_row(&self, i: usize) -> &[u32] {
        &self.active[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Row `i` as (column, value) pairs: its real inputs, then its active 0/1 inputs.
    pub fn inputs(&self, i: usize, out: &mut Vec<(usize, f64)>) {
        out.clear();
        out.extend(self.dense_row(i).iter().copied().enumerate());
        out.extend(self.active_row(i).iter().map(|c| (*c as usize, 1.0)));
    }

    fn margin(&self, i: usize, weights: &[f64], intercept: f64) -> f64 {
        let dense: f64 = self
            .dense_row(i)
            .iter()
            .zip(weights)
            .map(|(x, w)| x * w)
            .sum();
        let active: f64 = self
            .active_row(i)
            .iter()
            .map(|c| weights[*c as usize])
            .sum();
        intercept + dense + active
    }

    /// `intercept + x·weights` of every row.
    pub fn margins(&self, weights: &[f64], intercept: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.rows()];
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| {
                for (k, m) in chunk.iter_mut().enumerate() {
                    *m = self.margin(b * BLOCK + k, weights, intercept);
                }
            });
        out
    }

    /// `Σ_rows r_i · x_i`, with `Σ r_i` last (the intercept's share), where
    /// `r_i = r(i, margin_i)`: the gradient of a loss whose derivative in row i's margin is
    /// `r_i`.
    pub fn gradient(
        &self,
        weights: &[f64],
        intercept: f64,
        r: impl Fn(usize, f64) -> f64 + Sync,
    ) -> Vec<f64> {
        let rows = self.rows();
        let blocks: Vec<Vec<f64>> = (0..rows.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let mut grad = vec![0.0; self.width + 1];
                for i in b * BLOCK..((b + 1) * BLOCK).min(rows) {
                    let ri = r(i, self.margin(i, weights, intercept));
                    for (g, x) in grad.iter_mut().zip(self.dense_row(i)) {
                        *g += ri * x;
                    }
                    for c in self.active_row(i) {
                        grad[*c as usize] += ri;
                    }
                    grad[self.width] += ri;
                }
                grad
            })
            .collect();
        let mut grad = vec![0.0; self.width + 1];
        for block in blocks {
            for (a, b) in grad.iter_mut().zip(block) {
                *a += b;
            }
        }
        grad
    }
}
