//! Factorization machine (Rendle 2010) on the LR's inputs: log-odds
//! `w0 + Σ w_t x_t + Σ_{t<u} <v_t, v_u> x_t x_u`, fitted by stochastic gradient descent with
//! per-parameter Adagrad step sizes on the log loss, L2 applied to the parameters a row
//! touches. One thread, rows shuffled each epoch by a seeded generator: the same inputs,
//! parameters and seed give bit-identical models.

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal};

use super::design::Design;

#[derive(Clone, Debug, serde::Serialize)]
pub struct FmParams {
    pub factors: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub epochs: usize,
    pub seed: u64,
}

impl FmParams {
    fn check(&self) -> Result<()> {
        if self.factors == 0 || self.factors > 256 {
            bail!("fm_factors must be 1..=256, got {}", self.factors);
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            bail!("fm_learning_rate must be > 0, got {}", self.learning_rate);
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            bail!("fm_l2 must be ≥ 0, got {}", self.l2);
        }
        if self.epochs == 0 {
            bail!("fm_epochs must be ≥ 1");
        }
        Ok(())
    }
}

/// A fitted FM: bias, one weight and one vector of `factors` per input column.
#[derive(Debug, Clone)]
pub struct Fm {
    pub intercept: f64,
    pub weights: Vec<f64>,
    /// Column-major by input: `vectors[c * factors + f]`.
    vectors: Vec<f64>,
    pub factors: usize,
}

/// Adagrad's accumulated squared gradients start here (keeps the first steps finite).
const ADAGRAD_START: f64 = 1e-8;

impl Fm {
    pub fn fit(x: &Design, y: &[f64], p: &FmParams) -> Result<Self> {
        p.check()?;
        if x.rows() != y.len() {
            bail!("{} rows of inputs but {} labels", x.rows(), y.len());
        }
        if y.iter().all(|v| *v == 1.0) || !y.contains(&1.0) {
            bail!("FM needs both positive and negative training rows");
        }
        let (width, k) = (x.width(), p.factors);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
        let init = Normal::new(0.0, 0.01).expect("valid normal");
        let mut fm = Self {
            intercept: 0.0,
            weights: vec![0.0; width],
            vectors: (0..width * k).map(|_| init.sample(&mut rng)).collect(),
            factors: k,
        };
        let mut g_bias = ADAGRAD_START;
        let mut g_weights = vec![ADAGRAD_START; width];
        let mut g_vectors = vec![ADAGRAD_START; width * k];
        let mut order: Vec<usize> = (0..x.rows()).collect();
        let mut sums = vec![0.0; k];
        let mut inputs: Vec<(usize, f64)> = Vec::new();
        for epoch in 0..p.epochs {
            order.shuffle(&mut rng);
            let mut loss = 0.0;
            for &i in &order {
                x.inputs(i, &mut inputs);
                let z = fm.margin_with_sums(&inputs, &mut sums);
                let label = if y[i] == 1.0 { 1.0 } else { 0.0 };
                let prob = 1.0 / (1.0 + (-z).exp());
                loss -= if label == 1.0 {
                    prob.max(1e-15).ln()
                } else {
                    (1.0 - prob).max(1e-15).ln()
                };
                // d(log loss)/dz
                let g = prob - label;
                g_bias += g * g;
                fm.intercept -= p.learning_rate * g / g_bias.sqrt();
                for &(c, xc) in &inputs {
                    let gw = g * xc + p.l2 * fm.weights[c];
                    g_weights[c] += gw * gw;
                    fm.weights[c] -= p.learning_rate * gw / g_weights[c].sqrt();
                    for (f, sum) in sums.iter().enumerate() {
                        let at = c * k + f;
                        let v = fm.vectors[at];
                        let gv = g * xc * (sum - v * xc) + p.l2 * v;
                        g_vectors[at] += gv * gv;
                        fm.vectors[at] -= p.learning_rate * gv / g_vectors[at].sqrt();
                    }
                }
            }
            let mean_loss = loss / x.rows() as f64;
            if !mean_loss.is_finite() {
                bail!(
                    "FM diverged in epoch {epoch} (log loss {mean_loss}); lower fm_learning_rate"
                );
            }
            tracing::info!(epoch, mean_loss, "FM epoch");
        }
        Ok(fm)
    }

    /// The vector of input column `c`.
    pub fn vector(&self, c: usize) -> &[f64] {
        &self.vectors[c * self.factors..(c + 1) * self.factors]
    }

    /// Log-odds of a row given as (column, value) pairs; `sums[f] = Σ_t v_tf x_t` on return.
    fn margin_with_sums(&self, inputs: &[(usize, f64)], sums: &mut [f64]) -> f64 {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let mut z = self.intercept;
        let mut squares = 0.0;
        for &(c, xc) in inputs {
            z += self.weights[c] * xc;
            for (f, s) in sums.iter_mut().enumerate() {
                let vx = self.vectors[c * self.factors + f] * xc;
                *s += vx;
                squares += vx * vx;
            }
        }
        z + 0.5 * (sums.iter().map(|s| s * s).sum::<f64>() - squares)
    }

    /// P(label = 1) per row of `x`, with `logit_offset` added to the log-odds.
    pub fn predict(&self, x: &Design, logit_offset: f64) -> Vec<f64> {
        let mut sums = vec![0.0; self.factors];
        let mut inputs = Vec::new();
        (0..x.rows())
            .map(|i| {
                x.inputs(i, &mut inputs);
                let z = self.margin_with_sums(&inputs, &mut sums) + logit_offset;
                1.0 / (1.0 + (-z).exp())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::model::logistic::Logistic;
    use crate::model::metrics;

    /// Two categorical inputs of 4 values each; the label depends on their combination only
    /// (parity of the two indices), which no weight per value can express.
    fn interaction_data(rows: usize, seed: u64) -> (Design, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut x = Design::with_capacity(1, 9, rows, rows * 2);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            let (a, b) = (rng.random_range(0..4usize), rng.random_range(0..4usize));
            let noise: f64 = rng.random_range(-1.0..1.0);
            let p = if (a + b) % 2 == 0 { 0.85 } else { 0.15 };
            y.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
            x.push_row(&[noise], [1 + a, 5 + b]);
        }
        (x, y)
    }

    fn auc(p: &[f64], y: &[f64]) -> f64 {
        metrics::auc(p, y, &vec![1.0; y.len()])
    }

    fn params(seed: u64) -> FmParams {
        FmParams {
            factors: 4,
            learning_rate: 0.1,
            l2: 1e-4,
            epochs: 10,
            seed,
        }
    }

    #[test]
    fn fm_learns_a_pairwise_effect_that_lr_cannot() {
        let (train, y) = interaction_data(4000, 1);
        let (valid, yv) = interaction_data(2000, 2);
        let fm = Fm::fit(&train, &y, &params(7)).unwrap();
        let lr = Logistic::fit(&train, &y, 1.0, 100).unwrap();
        let (fm_auc, lr_auc) = (
            auc(&fm.predict(&valid, 0.0), &yv),
            auc(&lr.predict(&valid, 0.0), &yv),
        );
        assert!(fm_auc > 0.8, "FM AUC {fm_auc}");
        assert!(
            lr_auc < 0.6,
            "LR AUC {lr_auc}: the data has no main effects"
        );
    }

    #[test]
    fn a_seed_gives_the_same_model_bit_for_bit() {
        let (x, y) = interaction_data(500, 3);
        let (a, b) = (
            Fm::fit(&x, &y, &params(5)).unwrap(),
            Fm::fit(&x, &y, &params(5)).unwrap(),
        );
        assert_eq!(a.intercept.to_bits(), b.intercept.to_bits());
        assert!(
            a.vectors
                .iter()
                .zip(&b.vectors)
                .all(|(u, v)| u.to_bits() == v.to_bits())
        );
        let c = Fm::fit(&x, &y, &params(6)).unwrap();
        assert_ne!(a.vectors, c.vectors);
    }

    #[test]
    fn bad_parameters_and_one_class_are_refused_by_name() {
        let (x, y) = interaction_data(50, 4);
        for (change, name) in [
            (
                FmParams {
                    factors: 0,
                    ..params(1)
                },
                "fm_factors",
            ),
            (
                FmParams {
                    learning_rate: f64::NAN,
                    ..params(1)
                },
                "fm_learning_rate",
            ),
            (
                FmParams {
                    l2: -1.0,
                    ..params(1)
                },
                "fm_l2",
            ),
            (
                FmParams {
                    epochs: 0,
                    ..params(1)
                },
                "fm_epochs",
            ),
        ] {
            let err = Fm::fit(&x, &y, &change).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
        let err = Fm::fit(&x, &vec![0.0; 50], &params(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("both positive and negative"), "{err}");
    }
}
