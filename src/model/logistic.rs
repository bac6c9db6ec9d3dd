//! Logistic regression on a [`Design`]: LR on standardized numeric and one-hot categorical
//! inputs, and GBDT+LR's stage on one active leaf per tree among hundreds of leaf columns.
//! The objective, solver and stopping rule are linfa-logistic's (summed log loss plus
//! `0.5 * l2 * |w|^2`, intercept not penalized; argmin's L-BFGS with memory 10 and a
//! More-Thuente line search, gradient tolerance 1e-4), so it fits what linfa fits on the
//! dense matrix (a unit test compares them), without that matrix (3.7 GB of leaves on medium
//! data) and with the row passes on every core.

use anyhow::{Context, Result, bail};
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array1;

use super::design::Design;

/// Intercept and one weight per column, on the log-odds of label 1.
#[derive(Debug, Clone)]
pub struct Logistic {
    pub intercept: f64,
    pub weights: Vec<f64>,
}

impl Logistic {
    /// Fits on `x` with labels `y` (1.0 positive, anything else negative).
    pub fn fit(x: &Design, y: &[f64], l2: f64, max_iter: u64) -> Result<Self> {
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
            .context("fitting the logistic regression (L-BFGS)")?;
        let best = result.state().get_best_param().cloned().unwrap_or(start);
        let (weights, intercept) = split(&best);
        Ok(Self {
            intercept,
            weights: weights.to_vec(),
        })
    }

    /// P(label = 1) per row of `x`, with `logit_offset` added to the log-odds.
    pub fn predict(&self, x: &Design, logit_offset: f64) -> Vec<f64> {
        x.margins(&self.weights, self.intercept)
            .into_iter()
            .map(|z| logistic(z + logit_offset))
            .collect()
    }
}

struct Problem<'a> {
    x: &'a Design,
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
        // d/dz of −log σ(s·z) = (σ(s·z) − 1)·s
        let mut g = self.x.gradient(weights, intercept, |i, z| {
            let s = self.signs[i];
            (logistic(z * s) - 1.0) * s
        });
        for (gc, wc) in g.iter_mut().zip(weights) {
            *gc += self.l2 * wc;
        }
        Ok(Array1::from(g))
    }
}

#[cfg(test)]
mod tests {
    use linfa::prelude::*;
    use linfa_logistic::LogisticRegression;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Rows with `dense` real inputs and one active column in each of `groups` groups of
    /// `per_group` columns (one-hot categories, or one leaf per tree), labels drawn from a
    /// known logistic model.
    fn data(
        rows: usize,
        dense: usize,
        groups: usize,
        per_group: usize,
        seed: u64,
    ) -> (Design, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let width = dense + groups * per_group;
        let truth: Vec<f64> = (0..width).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut x = Design::with_capacity(dense, width, rows, rows * groups);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            let values: Vec<f64> = (0..dense).map(|_| rng.random_range(-2.0..2.0)).collect();
            let active: Vec<usize> = (0..groups)
                .map(|g| dense + g * per_group + rng.random_range(0..per_group))
                .collect();
            let z: f64 = values.iter().zip(&truth).map(|(v, w)| v * w).sum::<f64>()
                + active.iter().map(|c| truth[*c]).sum::<f64>()
                - 0.3;
            y.push(if rng.random::<f64>() < logistic(z) {
                1.0
            } else {
                0.0
            });
            x.push_row(&values, active);
        }
        (x, y)
    }

    fn dense(x: &Design, dense_width: usize) -> ndarray::Array2<f64> {
        let mut m = ndarray::Array2::<f64>::zeros((x.rows(), x.width()));
        for i in 0..x.rows() {
            for c in 0..dense_width {
                m[[i, c]] = x.dense_row(i)[c];
            }
            for c in x.active_row(i) {
                m[[i, *c as usize]] = 1.0;
            }
        }
        m
    }

    /// linfa-logistic on the dense matrix: the reference this solver must agree with.
    fn linfa_fit(x: ndarray::Array2<f64>, y: &[f64], l2: f64, iters: u64) -> (f64, Vec<f64>) {
        let targets: ndarray::Array1<bool> = y.iter().map(|v| *v == 1.0).collect();
        let model = LogisticRegression::default()
            .alpha(l2)
            .max_iterations(iters)
            .fit(&Dataset::new(x, targets))
            .unwrap();
        // linfa's positive class is the first label it sees.
        let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
        (
            sign * model.intercept(),
            model.params().iter().map(|w| sign * w).collect(),
        )
    }

    #[test]
    fn fits_what_linfa_fits_on_the_same_design() {
        // One-hot leaves only (GBDT+LR), then real inputs beside one-hot ones (LR).
        for (dense_width, groups, per_group) in [(0, 8, 6), (5, 3, 4)] {
            let (x, y) = data(3000, dense_width, groups, per_group, 7);
            for (l2, iters) in [(1.0, 50), (0.1, 200)] {
                let ours = Logistic::fit(&x, &y, l2, iters).unwrap();
                let (intercept, weights) = linfa_fit(dense(&x, dense_width), &y, l2, iters);
                let case = format!("{dense_width} real inputs, l2 {l2}");
                assert!((ours.intercept - intercept).abs() < 1e-6, "{case}");
                for (a, b) in ours.weights.iter().zip(&weights) {
                    assert!((a - b).abs() < 1e-6, "{case}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_gradient_is_the_cost_s_derivative() {
        let (x, y) = data(200, 2, 3, 4, 11);
        let signs = y
            .iter()
            .map(|v| if *v == 1.0 { 1.0 } else { -1.0 })
            .collect();
        let p = Problem {
            x: &x,
            signs,
            l2: 0.7,
        };
        let w: Array1<f64> = (0..15).map(|i| (i as f64 * 0.37).sin()).collect();
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
    fn the_fit_does_not_depend_on_the_number_of_threads() {
        // More rows than one block, so the passes really split.
        let (x, y) = data(20_000, 3, 4, 5, 3);
        let fit_with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Logistic::fit(&x, &y, 1.0, 50).unwrap())
        };
        let (one, two) = (fit_with(1), fit_with(3));
        assert_eq!(one.intercept.to_bits(), two.intercept.to_bits());
        assert!(
            one.weights
                .iter()
                .zip(&two.weights)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn one_class_is_refused() {
        let (x, _) = data(10, 1, 2, 2, 1);
        let err = Logistic::fit(&x, &[1.0; 10], 1.0, 10).unwrap_err();
        assert!(
            err.to_string().contains("both positive and negative"),
            "{err}"
        );
    }
}
