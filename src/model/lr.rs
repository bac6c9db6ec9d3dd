//! Logistic regression with linfa-logistic (L-BFGS on the summed log loss plus
//! `0.5 * l2 * |w|^2`; the intercept is not penalized).

use anyhow::{Context, Result, bail};
use linfa::prelude::*;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, Array2};

pub struct FittedLr {
    model: FittedLogisticRegression<f64, bool>,
    /// Whether linfa's "positive" class is label 1 (it takes the first label it sees).
    positive_is_one: bool,
}

impl FittedLr {
    pub fn fit(x: Array2<f64>, y: &[f64], l2: f64, max_iter: u64) -> Result<Self> {
        let targets: Array1<bool> = y.iter().map(|v| *v == 1.0).collect();
        if targets.iter().all(|t| *t) || !targets.iter().any(|t| *t) {
            bail!("LR needs both positive and negative training rows");
        }
        let dataset = Dataset::new(x, targets);
        let model = LogisticRegression::default()
            .alpha(l2)
            .max_iterations(max_iter)
            .fit(&dataset)
            .context("fitting the logistic regression (linfa)")?;
        let positive_is_one = model.labels().pos.class;
        Ok(Self {
            model,
            positive_is_one,
        })
    }

    /// P(label = 1) per row of `x`.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        let p = self.model.predict_probabilities(x);
        if self.positive_is_one {
            p.to_vec()
        } else {
            p.iter().map(|v| 1.0 - v).collect()
        }
    }

    /// Intercept and weights on the log-odds of label 1.
    pub fn coefficients(&self) -> (f64, Vec<f64>) {
        let sign = if self.positive_is_one { 1.0 } else { -1.0 };
        (
            sign * self.model.intercept(),
            self.model.params().iter().map(|w| sign * w).collect(),
        )
    }
}
