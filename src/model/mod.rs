//! Ranking models as a library: LR (L-BFGS, `logistic`), FM (`fm`), GBDT (forust-ml) and GBDT+LR fitted on frames in
//! memory, offline metrics, the versioned artifact that `liverec score` — and the serving
//! team — evaluate from `model.json` alone (and `model.xgb.json`, the trees in XGBoost's
//! format), and its publication. What to train and when to
//! publish is the `train` job's business (`builtin::train`).

pub mod als;
pub mod artifact;
pub mod columns;
pub mod data;
pub mod design;
pub mod fit;
pub mod fm;
pub mod gbdt;
pub mod logistic;
pub mod metrics;
pub mod onnx;
pub mod prep;
pub mod publish;
#[cfg(test)]
mod random_models;
pub mod report;
pub mod score;
pub mod xgboost;

use serde::{Deserialize, Serialize};

/// The ordered feature columns a model reads from the samples (a training job's
/// `[features]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureList {
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
}
