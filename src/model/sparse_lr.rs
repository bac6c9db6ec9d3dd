//! Logistic regression on a sparse binary design: the GBDT+LR stage, where each row has one
//! active leaf per tree among hundreds of leaf columns. The objective, solver and stopping
//! rule are linfa-logistic's (summed log loss plus `0.5 * l2 * |w|^2`, intercept not
//! penalized; argmin's L-BFGS with memory 10 and a More-Thuente line search, gradient
//! tolerance 1e-4), so it fits what the dense linfa fit would, without the rows × leaves
//! matrix of f64 (3.7 GB on medium data).

use anyhow::{Context, Result, bail};
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array1;

/// Rows of 0/1 inputs stored as the columns that are 1 (CSR without values).
#[derive(Debug, Default, Clone)]
pub struct BinaryRows {
    /// Start of each row in `columns`, plus the end: `rows + 1` entries.
    offsets: Vec<usize>,
    columns: Vec<u32>,
    width: usize,
}

impl BinaryRows {
    pub fn new(width: usize) -> Self {
        Self {
            offsets: vec![0],
            columns: Vec::new(),
            width,
        }
    }

    /// Room for `rows` rows with `active` active columns in all, allocated once.
    pub fn with_capacity(width: usize, rows: usize, active: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            columns: Vec::with_capacity(active),
            width,
        }
    }

    /// Appends a row whose active columns are `active` (each < width).
    pub fn push_row(&mut self, active: impl IntoIterator<Item = usize>) {
        for c in active {
            debug_assert!(c < self.width);
            self.columns.push(c as u32);
        }
        self.offsets.push(self.columns.len());
    }

    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn width(&self) -> usize {
        self.width
    }

    fn row(&self, i: usize) -> &[u32] {
        &self.columns[self.offsets[i]..self.offsets[i + 1]]
    }

    /// `intercept + Σ weights[c]` over each row's active columns.
    fn margins(&self, weights: &[f64], intercept: f64) -> Vec<f64> {
        (0..self.rows())
            .map(|i| {
                intercept
                    + self
                        .row(i)
                        .iter()
                        .map(|c| weights[*c as usize])
                        .sum::<f64>()
            })
            .collect()
    }
}

/// Intercept and one weight per column, on the log-odds of label 1.
#[derive(Debug, Clone)]
pub struct SparseLr {
    pub intercept: f64,
    pub weights: Vec<f64>,
}

impl SparseLr {
    /// Fits on `x` with labels `y` (1.0 positive, anything else negative).
    pub fn fit(x: &BinaryRows, y: &[f64], l2: f64, max_iter: u64) -> Result<Self> {
        if x.rows() != y.len() {
            bail!("{} rows of inputs but {} labels", x.rows(), y.len());
        }
        let signs: Vec<f64> = y
            .iter()
            .map(|v| if *v == 1.0 { 1.0 } else { -1.0 })
            .collect();
        if signs.iter().all(|s| *s > 0.0) || signs.iter().all(|s| *s < 0.0) {
            bail!("LR needs both positive and negative training rows");
        }
        if !l2.is_finite() || l2 < 0.0 {
            bail!("l2 must be a finite number ≥ 0, got {l2}");
        }
        let problem = Problem { x, signs, l2 };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-4)
            .context("setting up L-BFGS")?;
        let start = Array1::<f64>::zeros(x.width() + 1);
        let result = Executor::new(problem, solver)
            .configure(|state| state.param(start.clone()).max_iters(max_iter))
            .run()
            .context("fitting the logistic regression on tree leaves (L-BFGS)")?;
        let best = result.state().get_best_param().cloned().unwrap_or(start);
        let (weights, intercept) = split(&best);
        Ok(Self {
            intercept,
            weights: weights.to_vec(),
        })
    }

    /// P(label = 1) per row of `x`.
    pub fn predict(&self, x: &BinaryRows) -> Vec<f64> {
        x.margins(&self.weights, self.intercept)
            .into_iter()
            .map(logistic)
            .collect()
    }
}

struct Problem<'a> {
    x: &'a BinaryRows,
    /// +1 for a positive row, −1 for a negative one.
    signs: Vec<f64>,
    l2: f64,
}

/// Weights and intercept (the last parameter, as linfa lays them out).
fn split(w: &Array1<f64>) -> (&[f64], f64) {
    let all = w.as_slice().expect("contiguous parameters");
    let (weights, intercept) = all.split_at(all.len() - 1);
    (weights, intercept[0])
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// log(logistic(z)) without overflow (scikit-learn's form, as linfa uses).
fn log_logistic(z: f64) -> f64 {
    if z > 0.0 {
        -(1.0 + (-z).exp()).ln()
    } else {
        z - (1.0 + z.exp()).ln()
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, w: &Array1<f64>) -> Result<f64, argmin::core::Error> {
        let (weights, intercept) = split(w);
        let margins = self.x.margins(weights, intercept);
        let loss: f64 = margins
            .iter()
            .zip(&self.signs)
            .map(|(z, s)| log_logistic(z * s))
            .sum();
        let norm: f64 = weights.iter().map(|v| v * v).sum();
        Ok(-loss + 0.5 * self.l2 * norm)
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, w: &Array1<f64>) -> Result<Array1<f64>, argmin::core::Error> {
        let (weights, intercept) = split(w);
        let margins = self.x.margins(weights, intercept);
        let mut grad = Array1::<f64>::zeros(w.len());
        let g = grad.as_slice_mut().expect("contiguous gradient");
        let n = weights.len();
        for (i, (z, s)) in margins.iter().zip(&self.signs).enumerate() {
            // d/dz of −log σ(s·z) = (σ(s·z) − 1)·s
            let r = (logistic(z * s) - 1.0) * s;
            for c in self.x.row(i) {
                g[*c as usize] += r;
            }
            g[n] += r;
        }
        for (gc, wc) in g[..n].iter_mut().zip(weights) {
            *gc += self.l2 * wc;
        }
        Ok(grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lr::FittedLr;
    use rand::{Rng, SeedableRng};

    /// Rows with one active column in each of `groups` groups of `per_group` columns (like
    /// one leaf per tree), labels drawn from a known logistic model.
    fn data(rows: usize, groups: usize, per_group: usize, seed: u64) -> (BinaryRows, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let truth: Vec<f64> = (0..groups * per_group)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut x = BinaryRows::new(groups * per_group);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            let active: Vec<usize> = (0..groups)
                .map(|g| g * per_group + rng.random_range(0..per_group))
                .collect();
            let z: f64 = active.iter().map(|c| truth[*c]).sum::<f64>() - 0.3;
            y.push(if rng.random::<f64>() < logistic(z) {
                1.0
            } else {
                0.0
            });
            x.push_row(active);
        }
        (x, y)
    }

    fn dense(x: &BinaryRows) -> ndarray::Array2<f64> {
        let mut m = ndarray::Array2::<f64>::zeros((x.rows(), x.width()));
        for i in 0..x.rows() {
            for c in x.row(i) {
                m[[i, *c as usize]] = 1.0;
            }
        }
        m
    }

    #[test]
    fn fits_what_linfa_fits_on_the_same_design() {
        let (x, y) = data(3000, 8, 6, 7);
        for (l2, iters) in [(1.0, 50), (0.1, 200)] {
            let sparse = SparseLr::fit(&x, &y, l2, iters).unwrap();
            let linfa = FittedLr::fit(dense(&x), &y, l2, iters).unwrap();
            let (intercept, weights) = linfa.coefficients();
            assert!((sparse.intercept - intercept).abs() < 1e-6, "{l2}");
            for (a, b) in sparse.weights.iter().zip(&weights) {
                assert!((a - b).abs() < 1e-6, "l2 {l2}: {a} vs {b}");
            }
            let p = sparse.predict(&x);
            let q = linfa.predict(&dense(&x));
            let worst = p
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-7, "l2 {l2}: {worst}");
        }
    }

    #[test]
    fn the_gradient_is_the_cost_s_derivative() {
        let (x, y) = data(200, 3, 4, 11);
        let signs = y
            .iter()
            .map(|v| if *v == 1.0 { 1.0 } else { -1.0 })
            .collect();
        let p = Problem {
            x: &x,
            signs,
            l2: 0.7,
        };
        let w: Array1<f64> = (0..13).map(|i| (i as f64 * 0.37).sin()).collect();
        let g = p.gradient(&w).unwrap();
        for k in 0..w.len() {
            let h = 1e-6;
            let (mut up, mut down) = (w.clone(), w.clone());
            up[k] += h;
            down[k] -= h;
            let numeric = (p.cost(&up).unwrap() - p.cost(&down).unwrap()) / (2.0 * h);
            assert!((numeric - g[k]).abs() < 1e-4 * (1.0 + numeric.abs()), "{k}");
        }
    }

    #[test]
    fn one_class_is_refused() {
        let mut x = BinaryRows::new(2);
        x.push_row([0]);
        x.push_row([1]);
        let err = SparseLr::fit(&x, &[1.0, 1.0], 1.0, 10).unwrap_err();
        assert!(err.to_string().contains("both positive and negative"));
    }
}
