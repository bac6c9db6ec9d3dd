//! `model.xgb.json`: a GBDT or GBDT+LR model in XGBoost's JSON model format, so xgboost,
//! Triton's FIL backend and treelite load it without liverec.
//!
//! Input: the tree input vector of docs/artifacts.md (numeric raw value, categorical
//! vocabulary index, NaN for missing), one column per feature in `features` order.
//! - Splits: XGBoost sends `x < split_condition` left and stores conditions as float32;
//!   liverec's threshold `t` is written rounded to the nearest float32, the same rounding
//!   XGBoost applies to its inputs, so every row whose value equals a threshold (thresholds
//!   are training values) and every row farther than half a float32 step from it is sent
//!   the same way; only a value strictly below `t` within that half step can differ.
//! - Missing values: `default_left` when liverec's missing branch is the left child, else
//!   right; a three-way split (a missing branch of its own) becomes two nodes, the second
//!   splitting on the same feature at `f32::MAX` (every present value goes left, a missing
//!   one right, to the missing branch).
//! - Leaves: GBDT leaf values; for GBDT+LR the LR weight of each (tree, leaf) instead, a
//!   leaf without a weight 0. The constant (base score or LR intercept, plus
//!   `logit_offset`) is added to every leaf of the first tree and `base_score` is 0.5
//!   (margin 0), so the margin is exactly liverec's sum up to float32 rounding.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use super::artifact::{FeatureKind, ModelArtifact, ModelType, Node, Split, Tree};

/// File name in the model version folder.
pub const XGBOOST_MODEL: &str = "model.xgb.json";

/// XGBoost's "no parent" marker for the root.
const NO_PARENT: i64 = 2_147_483_647;

#[derive(Debug, Serialize)]
pub struct XgbModel {
    learner: Learner,
    /// The XGBoost release whose format this follows.
    version: [u32; 3],
}

#[derive(Debug, Serialize)]
struct Learner {
    attributes: BTreeMap<String, String>,
    feature_names: Vec<String>,
    /// "float" for numeric inputs, "int" for vocabulary indices.
    feature_types: Vec<&'static str>,
    gradient_booster: GradientBooster,
    learner_model_param: LearnerModelParam,
    objective: Objective,
}

#[derive(Debug, Serialize)]
struct GradientBooster {
    model: GbTree,
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct GbTree {
    gbtree_model_param: GbTreeParam,
    iteration_indptr: Vec<usize>,
    tree_info: Vec<u32>,
    trees: Vec<XgbTree>,
}

/// XGBoost writes its parameters as strings.
#[derive(Debug, Serialize)]
struct GbTreeParam {
    num_parallel_tree: String,
    num_trees: String,
}

#[derive(Debug, Serialize)]
struct LearnerModelParam {
    base_score: String,
    boost_from_average: String,
    num_class: String,
    num_feature: String,
    num_target: String,
}

#[derive(Debug, Serialize)]
struct Objective {
    name: &'static str,
    reg_loss_param: BTreeMap<&'static str, String>,
}

/// One tree as XGBoost's parallel arrays, indexed by node id (root 0).
#[derive(Debug, Default, Serialize)]
struct XgbTree {
    base_weights: Vec<f32>,
    categories: Vec<u32>,
    categories_nodes: Vec<u32>,
    categories_segments: Vec<u64>,
    categories_sizes: Vec<u64>,
    default_left: Vec<u8>,
    id: usize,
    left_children: Vec<i64>,
    loss_changes: Vec<f32>,
    parents: Vec<i64>,
    right_children: Vec<i64>,
    /// Internal node: the float32 threshold; leaf: the leaf value.
    split_conditions: Vec<f32>,
    split_indices: Vec<u32>,
    split_type: Vec<u8>,
    sum_hessian: Vec<f32>,
    tree_param: TreeParam,
}

#[derive(Debug, Default, Serialize)]
struct TreeParam {
    num_deleted: String,
    num_feature: String,
    num_nodes: String,
    size_leaf_vector: String,
}

impl XgbTree {
    fn push(&mut self, node: XgbNode) -> i64 {
        let id = self.left_children.len() as i64;
        self.left_children.push(node.left);
        self.right_children.push(node.right);
        self.parents.push(node.parent);
        self.split_indices.push(node.feature);
        self.split_conditions.push(node.condition);
        self.default_left.push(node.default_left as u8);
        self.base_weights
            .push(if node.left < 0 { node.condition } else { 0.0 });
        self.loss_changes.push(0.0);
        self.sum_hessian.push(0.0);
        self.split_type.push(0);
        id
    }
}

struct XgbNode {
    left: i64,
    right: i64,
    parent: i64,
    feature: u32,
    condition: f32,
    default_left: bool,
}

/// `model.xgb.json` for a GBDT or GBDT+LR model; None for models without trees (LR, FM).
pub fn export(a: &ModelArtifact) -> Result<Option<XgbModel>> {
    let Some(ensemble) = &a.ensemble else {
        return Ok(None);
    };
    if matches!(a.model_type, ModelType::Lr | ModelType::Fm) {
        return Ok(None);
    }
    let leaves = a.leaf_outputs()?;
    let constant = leaves.constant + a.logit_offset;
    let mut trees = Vec::with_capacity(ensemble.trees.len().max(1));
    for (t, tree) in ensemble.trees.iter().enumerate() {
        let leaf_value = |node: &Node| -> f64 {
            let v = leaves.value(t, node);
            if t == 0 { v + constant } else { v }
        };
        let mut out = convert_tree(tree, leaf_value, a.features.len())?;
        out.id = t;
        trees.push(out);
    }
    if trees.is_empty() {
        // No trees: one tree of a single leaf carries the constant.
        let mut only = XgbTree::default();
        only.push(leaf_node(NO_PARENT, constant));
        only.tree_param = tree_param(1, a.features.len());
        trees.push(only);
    }
    let n = trees.len();
    Ok(Some(XgbModel {
        learner: Learner {
            attributes: BTreeMap::new(),
            feature_names: a.features.iter().map(|f| f.name.clone()).collect(),
            feature_types: a
                .features
                .iter()
                .map(|f| match f.kind {
                    FeatureKind::Numeric => "float",
                    FeatureKind::Categorical => "int",
                })
                .collect(),
            gradient_booster: GradientBooster {
                model: GbTree {
                    gbtree_model_param: GbTreeParam {
                        num_parallel_tree: "1".into(),
                        num_trees: n.to_string(),
                    },
                    iteration_indptr: (0..=n).collect(),
                    tree_info: vec![0; n],
                    trees,
                },
                name: "gbtree",
            },
            learner_model_param: LearnerModelParam {
                // Probability 0.5: margin 0; the constant is in the first tree's leaves.
                base_score: "[5E-1]".into(),
                boost_from_average: "1".into(),
                num_class: "0".into(),
                num_feature: a.features.len().to_string(),
                num_target: "1".into(),
            },
            objective: Objective {
                name: "binary:logistic",
                reg_loss_param: BTreeMap::from([("scale_pos_weight", "1".to_string())]),
            },
        },
        version: [3, 2, 0],
    }))
}

fn tree_param(nodes: usize, features: usize) -> TreeParam {
    TreeParam {
        num_deleted: "0".into(),
        num_feature: features.to_string(),
        num_nodes: nodes.to_string(),
        size_leaf_vector: "1".into(),
    }
}

fn leaf_node(parent: i64, value: f64) -> XgbNode {
    XgbNode {
        left: -1,
        right: -1,
        parent,
        feature: 0,
        condition: value as f32,
        default_left: false,
    }
}

/// One liverec tree in XGBoost's layout: nodes keep their ids; a three-way split adds a
/// node at the end (see the module doc).
fn convert_tree(
    tree: &Tree,
    leaf_value: impl Fn(&Node) -> f64,
    features: usize,
) -> Result<XgbTree> {
    let n = tree.nodes.len();
    let mut parents = vec![NO_PARENT; n];
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.id != i {
            bail!("model.json: node {i} has id {}", node.id);
        }
        for c in [node.left, node.right, node.missing].into_iter().flatten() {
            if c >= n || c <= i {
                bail!("model.json: node {i} has child {c} of {n} nodes");
            }
            parents[c] = i as i64;
        }
    }
    let mut out = XgbTree::default();
    let mut extra: Vec<XgbNode> = Vec::new();
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.leaf {
            if node.value.is_none() {
                bail!("model.json: leaf {i} without a value");
            }
            out.push(leaf_node(parents[i], leaf_value(node)));
            continue;
        }
        let Split {
            feature,
            threshold,
            left,
            right,
            missing,
        } = node.split()?;
        if feature >= features {
            bail!("model.json: node {i} splits on feature {feature} of {features}");
        }
        let mut x = XgbNode {
            left: left as i64,
            right: right as i64,
            parent: parents[i],
            feature: feature as u32,
            condition: threshold as f32,
            default_left: missing == left,
        };
        if missing != left && missing != right {
            // Present values go on to the original left child, missing ones to `missing`.
            let k = (n + extra.len()) as i64;
            extra.push(XgbNode {
                left: left as i64,
                right: missing as i64,
                parent: i as i64,
                feature: feature as u32,
                condition: f32::MAX,
                default_left: false,
            });
            x.left = k;
            x.default_left = true;
        }
        out.push(x);
    }
    for node in extra {
        let k = out.left_children.len() as i64;
        out.parents[node.left as usize] = k;
        out.parents[node.right as usize] = k;
        out.push(node);
    }
    out.tree_param = tree_param(out.left_children.len(), features);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::artifact::*;
    use super::super::random_models::model;
    use super::*;

    /// XGBoost's prediction, as its CPU predictor computes it: float32 inputs and
    /// conditions, float32 sum of leaves, then the sigmoid of the margin (base 0.5 adds 0).
    fn xgb_probability(m: &serde_json::Value, x: &[f64]) -> f64 {
        let trees = m["learner"]["gradient_booster"]["model"]["trees"]
            .as_array()
            .unwrap();
        let mut margin = 0f32;
        for t in trees {
            let at = |k: &str, i: usize| t[k][i].as_f64().unwrap();
            let mut i = 0usize;
            while at("left_children", i) >= 0.0 {
                let v = x[at("split_indices", i) as usize] as f32;
                let go_left = if v.is_nan() {
                    at("default_left", i) == 1.0
                } else {
                    v < at("split_conditions", i) as f32
                };
                i = at(
                    if go_left {
                        "left_children"
                    } else {
                        "right_children"
                    },
                    i,
                ) as usize;
            }
            margin += at("split_conditions", i) as f32;
        }
        sigmoid(margin as f64)
    }

    #[test]
    fn xgboost_s_walk_of_the_export_scores_as_liverec_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Thresholds as forust makes them (training values), some not float32-representable.
        let cuts = [0.1, 0.5, 1.0 / 3.0, 2.0, 7.25, 1e-3, 1.5, 2.5];
        let categories = [Some("a"), Some("b"), Some("c"), Some("unseen"), None];
        for model_type in [ModelType::Gbdt, ModelType::GbdtLr] {
            let artifact = model(&mut rng, model_type, &cuts);
            let exported = serde_json::to_value(export(&artifact).unwrap().unwrap()).unwrap();
            let scorer = Scorer::new(artifact).unwrap();
            let vocab = scorer.artifact.vocabularies[0].clone();
            let mut three_way = 0;
            for t in exported["learner"]["gradient_booster"]["model"]["trees"]
                .as_array()
                .unwrap()
            {
                three_way += t["split_conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c.as_f64() == Some(f32::MAX as f64))
                    .count();
            }
            assert!(three_way > 5, "the random trees have three-way splits");
            let value = |rng: &mut ChaCha8Rng| match rng.random_range(0..4) {
                0 => f64::NAN,
                1 => cuts[rng.random_range(0..cuts.len())],
                _ => rng.random_range(-1.0..8.0),
            };
            let mut worst = 0f64;
            for _ in 0..5000 {
                let numeric = [value(&mut rng), value(&mut rng)];
                let category = categories[rng.random_range(0..categories.len())];
                let p = scorer.probability(&RowValues {
                    numeric: &numeric,
                    categorical: &[category],
                });
                let code = category.map_or(f64::NAN, |c| vocab.index(Some(c)) as f64);
                let q = xgb_probability(&exported, &[numeric[0], numeric[1], code]);
                worst = worst.max((p - q).abs());
            }
            assert!(worst < 1e-6, "{model_type:?}: largest difference {worst}");
        }
    }

    #[test]
    fn lr_has_no_xgboost_form() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut a = model(&mut rng, ModelType::Gbdt, &[1.0]);
        a.model_type = ModelType::Lr;
        a.ensemble = None;
        assert!(export(&a).unwrap().is_none());
    }
}
