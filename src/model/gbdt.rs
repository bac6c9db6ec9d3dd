//! Gradient-boosted trees with forust-ml: histogram splits, binary log loss (Newton
//! steps), sample weights, learned missing-value directions. Its trees are public, so they
//! are exported node by node into the artifact.

use anyhow::{Context, Result};
use forust_ml::gradientbooster::{GrowPolicy, ImportanceMethod};
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::{GradientBooster, Matrix};

use super::artifact::{Ensemble, Node, Tree};

#[derive(Clone, Debug, serde::Serialize)]
pub struct GbdtParams {
    pub trees: usize,
    pub max_depth: usize,
    pub max_leaves: usize,
    pub learning_rate: f64,
    pub subsample: f64,
    pub min_child_weight: f64,
    pub nbins: u16,
    pub seed: u64,
}

pub struct FittedGbdt {
    booster: GradientBooster,
}

impl FittedGbdt {
    /// `data` is column-major, `rows` × `cols`.
    pub fn fit(
        data: &[f64],
        rows: usize,
        cols: usize,
        y: &[f64],
        w: &[f64],
        p: &GbdtParams,
    ) -> Result<Self> {
        let matrix = Matrix::new(data, rows, cols);
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(p.trees)
            .set_learning_rate(p.learning_rate as f32)
            .set_max_depth(p.max_depth)
            .set_max_leaves(p.max_leaves)
            .set_min_leaf_weight(p.min_child_weight as f32)
            .set_nbins(p.nbins)
            .set_subsample(p.subsample as f32)
            .set_sample_method(if p.subsample < 1.0 {
                SampleMethod::Random
            } else {
                SampleMethod::None
            })
            .set_seed(p.seed)
            .set_parallel(true);
        // Depth-wise growth, capped by both max_depth and max_leaves.
        booster.grow_policy = GrowPolicy::DepthWise;
        booster
            .fit(&matrix, y, w, None)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("fitting the GBDT (forust-ml)")?;
        Ok(Self { booster })
    }

    /// Log-odds per row (column-major `data`).
    pub fn predict_raw(&self, data: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        self.booster.predict(&Matrix::new(data, rows, cols), true)
    }

    /// The node id of the leaf each tree sends each row to: `[tree][row]`.
    pub fn leaves(&self, data: &[f64], rows: usize, cols: usize) -> Vec<Vec<usize>> {
        let flat = self
            .booster
            .predict_leaf_indices(&Matrix::new(data, rows, cols));
        flat.chunks(rows.max(1)).map(|c| c.to_vec()).collect()
    }

    pub fn ensemble(&self) -> Ensemble {
        let trees = self
            .booster
            .trees
            .iter()
            .map(|t| Tree {
                nodes: t
                    .nodes
                    .iter()
                    .map(|n| {
                        if n.is_leaf {
                            Node {
                                id: n.num,
                                leaf: true,
                                value: Some(n.weight_value as f64),
                                feature: None,
                                threshold: None,
                                left: None,
                                right: None,
                                missing: None,
                            }
                        } else {
                            Node {
                                id: n.num,
                                leaf: false,
                                value: None,
                                feature: Some(n.split_feature),
                                threshold: Some(n.split_value),
                                left: Some(n.left_child),
                                right: Some(n.right_child),
                                missing: Some(n.missing_node),
                            }
                        }
                    })
                    .collect(),
            })
            .collect();
        Ensemble {
            base_score: self.booster.base_score,
            trees,
        }
    }

    /// Total split gain per feature, normalized to sum to 1.
    pub fn importance(&self, cols: usize) -> Vec<f64> {
        let map = self
            .booster
            .calculate_feature_importance(ImportanceMethod::TotalGain, true);
        (0..cols)
            .map(|j| map.get(&j).copied().unwrap_or(0.0) as f64)
            .collect()
    }

    pub fn tree_count(&self) -> usize {
        self.booster.trees.len()
    }
}
