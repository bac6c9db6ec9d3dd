//! `model.json`: the contract with serving. Everything needed to score a row is in it —
//! the ordered features, their preprocessing, the trees and/or linear weights — and the
//! scoring functions here read nothing else (they are what `liverec score` runs).
//! docs/artifacts.md describes the format for implementers in other languages.
//!
//! This crate depends on serde and sha2 only, so a Rust serving process can load a model
//! version folder ([`load_verified_dir`]), verify its checksums and score rows
//! ([`Scorer`]) without liverec's engine.

mod score;
mod verify;

pub use score::{RowValues, Scorer, sigmoid, slog1p, standardize};

pub use verify::{
    MANIFEST, MODEL, ManifestChecksums, check_checksum, load_verified_dir, sha256_hex,
};

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    Lr,
    Gbdt,
    GbdtLr,
    /// Factorization machine: LR's inputs and terms plus a factor vector per term.
    Fm,
}

impl ModelType {
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "lr" => Self::Lr,
            "gbdt" => Self::Gbdt,
            "gbdt_lr" => Self::GbdtLr,
            "fm" => Self::Fm,
            other => bail!("unknown model `{other}` (lr, gbdt, gbdt_lr, fm)"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Lr => "lr",
            Self::Gbdt => "gbdt",
            Self::GbdtLr => "gbdt_lr",
            Self::Fm => "fm",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDef {
    pub name: String,
    pub kind: FeatureKind,
    /// Arrow type in the training samples (any numeric type is read as float64, any
    /// string encoding as UTF-8).
    pub source_type: String,
}

/// LR preprocessing of a numeric feature: `z = (slog1p(x) - mean) / std`, where
/// `slog1p(x) = sign(x) * ln(1 + |x|)`; a missing value gives `z = 0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericTransform {
    pub feature: String,
    pub transform: String,
    pub mean: f64,
    pub std: f64,
}

/// Values of a categorical feature seen at least `min_count` times in training, sorted.
/// Anything else — an unseen or rare value, or a missing one — is out of vocabulary:
/// index `oov_index` (= `values.len()`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub feature: String,
    pub values: Vec<String>,
    pub oov_index: usize,
    pub min_count: u64,
}

impl Vocabulary {
    pub fn index(&self, value: Option<&str>) -> usize {
        value
            .and_then(|v| {
                self.values
                    .binary_search_by(|probe| probe.as_str().cmp(v))
                    .ok()
            })
            .unwrap_or(self.oov_index)
    }
}

/// One node of a tree. Internal nodes send a row to `missing` when the feature value is
/// missing, else to `left` when `value < threshold`, else to `right`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: usize,
    pub leaf: bool,
    /// Leaf: the value added to the log-odds (already multiplied by the learning rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Internal: index into `features`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<usize>,
}

/// What each leaf of a tree model adds to the log-odds, and the constant beside the leaves:
/// GBDT's leaf values and `base_score`, or GBDT+LR's leaf-term weights (0 for a leaf
/// without a term) and intercept. `logit_offset` is not included.
pub struct LeafOutputs {
    pub constant: f64,
    /// GBDT+LR: (tree, node) -> weight; None: the leaves' own values.
    weights: Option<HashMap<(usize, usize), f64>>,
}

impl LeafOutputs {
    /// What leaf `node` of tree `tree` adds.
    pub fn value(&self, tree: usize, node: &Node) -> f64 {
        match &self.weights {
            Some(w) => w.get(&(tree, node.id)).copied().unwrap_or(0.0),
            None => node.value.unwrap_or(0.0),
        }
    }
}

impl ModelArtifact {
    /// The leaf outputs of a GBDT or GBDT+LR model (an error for other models).
    pub fn leaf_outputs(&self) -> Result<LeafOutputs> {
        let name = self.model_type.name();
        let Some(ensemble) = &self.ensemble else {
            bail!("model.json: a {name} model without trees");
        };
        match self.model_type {
            ModelType::Gbdt => Ok(LeafOutputs {
                constant: ensemble.base_score,
                weights: None,
            }),
            ModelType::GbdtLr => {
                let Some(linear) = &self.linear else {
                    bail!("model.json: a gbdt_lr model without its linear layer");
                };
                let mut weights = HashMap::new();
                for term in &linear.terms {
                    if let Term::Leaf { tree, node, weight } = term {
                        weights.insert((*tree, *node), *weight);
                    }
                }
                Ok(LeafOutputs {
                    constant: linear.intercept,
                    weights: Some(weights),
                })
            }
            _ => bail!("model.json: a {name} model has no tree leaves"),
        }
    }
}

/// An internal node's test, read from its optional fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    pub feature: usize,
    pub threshold: f64,
    pub left: usize,
    pub right: usize,
    pub missing: usize,
}

impl Node {
    /// The test of an internal node; an error naming the node when a field is absent.
    pub fn split(&self) -> Result<Split> {
        match (
            self.feature,
            self.threshold,
            self.left,
            self.right,
            self.missing,
        ) {
            (Some(feature), Some(threshold), Some(left), Some(right), Some(missing)) => Ok(Split {
                feature,
                threshold,
                left,
                right,
                missing,
            }),
            _ => bail!(
                "model.json: internal node {} lacks a feature, threshold or child",
                self.id
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// Tree input: one value per feature in `features` order — a numeric feature's raw value,
/// a categorical feature's vocabulary index (out of vocabulary: `oov_index`); missing
/// values (null) are NaN and follow each node's `missing` branch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    pub base_score: f64,
    pub trees: Vec<Tree>,
}

/// One input column of the linear model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Term {
    /// The standardized numeric feature (see `numeric_transforms`).
    Numeric { feature: String, weight: f64 },
    /// 1 when the categorical feature has this in-vocabulary value.
    Category {
        feature: String,
        value: String,
        weight: f64,
    },
    /// 1 when the categorical feature is out of vocabulary (unseen, rare or missing).
    OutOfVocabulary { feature: String, weight: f64 },
    /// 1 when the row ends in this leaf (node id) of this tree (GBDT+LR).
    Leaf {
        tree: usize,
        node: usize,
        weight: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub intercept: f64,
    pub terms: Vec<Term>,
}

/// FM's second-order part: `vectors[t]` (length `factors`) belongs to `linear.terms[t]`;
/// the row's log-odds gain `Σ_{t<u} <v_t, v_u> x_t x_u`
/// `= 0.5 Σ_f [(Σ_t v_tf x_t)² − Σ_t v_tf² x_t²]` over the term inputs `x_t`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    pub factors: usize,
    pub vectors: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub format_version: u32,
    pub model_type: ModelType,
    pub version: String,
    /// Ordered inputs; names are the columns of the samples tables.
    pub features: Vec<FeatureDef>,
    /// LR and FM: one per numeric feature, in feature order.
    #[serde(default)]
    pub numeric_transforms: Vec<NumericTransform>,
    /// One per categorical feature, in feature order.
    pub vocabularies: Vec<Vocabulary>,
    /// GBDT and GBDT+LR.
    #[serde(default)]
    pub ensemble: Option<Ensemble>,
    /// LR, FM and GBDT+LR (for GBDT+LR its terms are tree leaves only).
    #[serde(default)]
    pub linear: Option<Linear>,
    /// FM only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactions: Option<Interactions>,
    /// Added to the log-odds before the sigmoid: `ln(negative sampling rate)` when the
    /// model was trained on downsampled negatives, which recalibrates
    /// `q = p / (p + (1 - p) / w)`; 0 otherwise.
    pub logit_offset: f64,
    /// How to score, in words.
    pub scoring: String,
}
