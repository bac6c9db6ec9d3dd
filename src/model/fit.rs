//! Fitting a ranking model on a frame in memory: LR (`logistic`) on standardized numeric and
//! one-hot categorical inputs, GBDT (forust-ml), or GBDT+LR (the trees' leaves as the inputs
//! of the same LR), into an artifact that `liverec score` and serving evaluate
//! from `model.json` alone.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::FeatureList;
use super::artifact::{
    FORMAT_VERSION, FeatureDef, FeatureKind, Interactions, Linear, ModelArtifact, ModelType,
    RowValues, Scorer, Term, sigmoid,
};
use super::data::Frame;
use super::design::Design;
use super::fm::{Fm, FmParams};
use super::gbdt::{FittedGbdt, GbdtParams};
use super::logistic::Logistic;
use super::prep::{self, Column};

/// What to fit.
#[derive(Clone, Debug)]
pub struct FitSpec {
    pub model: ModelType,
    pub features: FeatureList,
    /// A categorical value seen fewer times goes to the out-of-vocabulary bucket.
    pub min_category_count: u64,
    pub l2: f64,
    pub lr_max_iter: u64,
    pub gbdt: GbdtParams,
    pub fm: FmParams,
}

/// Estimated bytes of memory per training row, for the row cap.
pub fn bytes_per_row(s: &FitSpec) -> u64 {
    let n = s.features.numeric.len() as u64;
    let c = s.features.categorical.len() as u64;
    let frame = (n + c) * 8 + 48;
    // Standardized numeric inputs, one active column per categorical feature, row offset,
    // and the solver's margins and signs.
    let lr = n * 8 + c * 4 + 8 + 16;
    let trees = (n + c) * 20 + 64;
    // One active leaf per tree, as a u32 column index (the design is sparse).
    let leaves = s.gbdt.trees as u64 * 4 + 8;
    frame
        + match s.model {
            ModelType::Lr => lr,
            // LR's rows plus the order of rows shuffled each epoch.
            ModelType::Fm => lr + 8,
            ModelType::Gbdt => trees,
            ModelType::GbdtLr => trees + leaves,
        }
}

/// What the fitted model says about a frame, via the library that trained it.
pub struct Fitted {
    pub artifact: ModelArtifact,
    /// The LR of an LR model, or the LR on the leaves of GBDT+LR.
    lr: Option<Logistic>,
    fm: Option<Fm>,
    gbdt: Option<FittedGbdt>,
    /// (name, value) for the report: importances or coefficients, largest first.
    pub weights: Vec<(String, f64)>,
}

impl Fitted {
    /// Calibrated probabilities (training code path: the solver's and forust's predictions).
    pub fn predict(&self, frame: &Frame) -> Vec<f64> {
        let a = &self.artifact;
        let rows = frame.rows();
        let cols = a.features.len();
        let offset = a.logit_offset;
        let lr = || self.lr.as_ref().expect("lr fitted");
        match a.model_type {
            ModelType::Lr => {
                let x = prep::lr_rows(frame, &a.numeric_transforms, &a.vocabularies);
                lr().predict(&x, offset)
            }
            ModelType::Fm => {
                let x = prep::lr_rows(frame, &a.numeric_transforms, &a.vocabularies);
                let fm = self.fm.as_ref().expect("fm fitted");
                fm.predict(&x, offset)
            }
            ModelType::Gbdt => {
                let data = prep::tree_input(frame, &a.vocabularies);
                let g = self.gbdt.as_ref().expect("gbdt fitted");
                g.predict_raw(&data, rows, cols)
                    .into_iter()
                    .map(|z| sigmoid(z + offset))
                    .collect()
            }
            ModelType::GbdtLr => {
                let data = prep::tree_input(frame, &a.vocabularies);
                let g = self.gbdt.as_ref().expect("gbdt fitted");
                let x = leaf_rows(g, &data, rows, cols, &leaf_columns(a));
                lr().predict(&x, offset)
            }
        }
    }
}

/// Column of each (tree, leaf node id), trees in order, leaves by node id.
fn leaf_columns(a: &ModelArtifact) -> Vec<BTreeMap<usize, usize>> {
    let mut next = 0;
    a.ensemble
        .iter()
        .flat_map(|e| e.trees.iter())
        .map(|t| {
            t.nodes
                .iter()
                .filter(|n| n.leaf)
                .map(|n| {
                    next += 1;
                    (n.id, next - 1)
                })
                .collect()
        })
        .collect()
}

/// The leaf inputs of each row (column-major `data`): the column of the leaf it reaches in
/// every tree. Computed in blocks of rows, so the trees' leaf ids (8 bytes per row and tree)
/// never exist for all rows at once: on medium data they alone were 2 × 220 MB.
fn leaf_rows(
    g: &FittedGbdt,
    data: &[f64],
    rows: usize,
    cols: usize,
    columns: &[BTreeMap<usize, usize>],
) -> Design {
    const BLOCK: usize = 32_768;
    let width = columns.iter().map(BTreeMap::len).sum();
    let mut x = Design::with_capacity(0, width, rows, rows * columns.len());
    let mut block = Vec::with_capacity(BLOCK.min(rows) * cols);
    for start in (0..rows).step_by(BLOCK) {
        let n = BLOCK.min(rows - start);
        block.clear();
        for c in 0..cols {
            block.extend_from_slice(&data[c * rows + start..c * rows + start + n]);
        }
        let leaves = g.leaves(&block, n, cols);
        for i in 0..n {
            x.push_row(
                &[],
                leaves
                    .iter()
                    .zip(columns)
                    .filter_map(|(per_row, map)| map.get(&per_row[i]).copied()),
            );
        }
    }
    x
}

pub fn feature_defs(
    features: &FeatureList,
    frame_types: &BTreeMap<String, String>,
) -> Vec<FeatureDef> {
    let def = |name: &String, kind| FeatureDef {
        name: name.clone(),
        kind,
        source_type: frame_types.get(name).cloned().unwrap_or_default(),
    };
    features
        .numeric
        .iter()
        .map(|n| def(n, FeatureKind::Numeric))
        .chain(
            features
                .categorical
                .iter()
                .map(|n| def(n, FeatureKind::Categorical)),
        )
        .collect()
}

pub fn fit(s: &FitSpec, train: &Frame, defs: Vec<FeatureDef>, logit_offset: f64) -> Result<Fitted> {
    let vocabularies = prep::vocabularies(train, &s.features, s.min_category_count);
    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        model_type: s.model,
        version: String::new(),
        features: defs,
        numeric_transforms: Vec::new(),
        vocabularies,
        ensemble: None,
        linear: None,
        interactions: None,
        logit_offset,
        scoring: String::new(),
    };
    let names: Vec<String> = artifact.features.iter().map(|f| f.name.clone()).collect();
    let rows = train.rows();
    match s.model {
        ModelType::Lr | ModelType::Fm => {
            artifact.numeric_transforms = prep::numeric_transforms(train, &s.features);
            let columns = prep::lr_columns(&artifact.numeric_transforms, &artifact.vocabularies);
            let x = prep::lr_rows(train, &artifact.numeric_transforms, &artifact.vocabularies);
            let started = std::time::Instant::now();
            let (lr, fm) = if s.model == ModelType::Fm {
                (None, Some(Fm::fit(&x, &train.label, &s.fm)?))
            } else {
                let lr = Logistic::fit(&x, &train.label, s.l2, s.lr_max_iter)?;
                (Some(lr), None)
            };
            let seconds = started.elapsed().as_secs_f64();
            let model = s.model.name();
            tracing::info!(
                seconds,
                model,
                "fitted (the solver alone; bench/lr_sklearn.py's peer for LR)"
            );
            let (intercept, w) = match (&lr, &fm) {
                (Some(lr), _) => (lr.intercept, &lr.weights),
                (_, Some(fm)) => (fm.intercept, &fm.weights),
                _ => unreachable!("one of them was fitted"),
            };
            let terms: Vec<Term> = columns
                .iter()
                .zip(w)
                .map(|(c, &weight)| linear_term(c, weight, s, &artifact))
                .collect();
            let mut weights: Vec<(String, f64)> = terms.iter().map(term_label).collect();
            weights.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            artifact.linear = Some(Linear { intercept, terms });
            artifact.scoring = "p = sigmoid(intercept + sum of term weights * term inputs + logit_offset); numeric term input = (slog1p(x) - mean) / std (0 when missing), category / out_of_vocabulary term input = 1 when it matches".into();
            if let Some(fm) = &fm {
                artifact.interactions = Some(Interactions {
                    factors: fm.factors,
                    vectors: (0..columns.len()).map(|c| fm.vector(c).to_vec()).collect(),
                });
                artifact.scoring = "as LR, plus 0.5 * sum over factors f of ((sum_t v_tf x_t)^2 - sum_t v_tf^2 x_t^2) inside the sigmoid, where v_t is interactions.vectors[t] of linear.terms[t] and x_t that term's input".into();
            }
            Ok(Fitted {
                artifact,
                lr,
                fm,
                gbdt: None,
                weights,
            })
        }
        ModelType::Gbdt | ModelType::GbdtLr => {
            let data = prep::tree_input(train, &artifact.vocabularies);
            let cols = names.len();
            // Unweighted: downsampled negatives are handled by `logit_offset`.
            let ones = vec![1.0; rows];
            let g = FittedGbdt::fit(&data, rows, cols, &train.label, &ones, &s.gbdt)?;
            artifact.ensemble = Some(g.ensemble());
            let mut weights: Vec<(String, f64)> =
                names.iter().cloned().zip(g.importance(cols)).collect();
            weights.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut lr = None;
            if s.model == ModelType::GbdtLr {
                let columns = leaf_columns(&artifact);
                let x = leaf_rows(&g, &data, rows, cols, &columns);
                tracing::info!(leaf_columns = x.width(), rows, "fitting LR on tree leaves");
                let started = std::time::Instant::now();
                let fitted = Logistic::fit(&x, &train.label, s.l2, s.lr_max_iter)?;
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(
                    seconds,
                    "LR on tree leaves fitted (bench/lr_sklearn.py's peer)"
                );
                let (intercept, w) = (fitted.intercept, &fitted.weights);
                let mut terms = Vec::with_capacity(w.len());
                for (t, map) in columns.iter().enumerate() {
                    for (node, c) in map {
                        terms.push(Term::Leaf {
                            tree: t,
                            node: *node,
                            weight: w[*c],
                        });
                    }
                }
                artifact.linear = Some(Linear { intercept, terms });
                artifact.scoring = "walk every tree to its leaf (see ensemble); p = sigmoid(intercept + sum of the weights of the reached (tree, leaf) terms + logit_offset); the trees' own leaf values are not used".into();
                lr = Some(fitted);
            } else {
                artifact.scoring = "walk every tree to its leaf; p = sigmoid(base_score + sum of leaf values + logit_offset)".into();
            }
            Ok(Fitted {
                artifact,
                lr,
                fm: None,
                gbdt: Some(g),
                weights,
            })
        }
    }
}

/// The artifact term of an LR / FM input column with its weight.
fn linear_term(c: &Column, weight: f64, s: &FitSpec, artifact: &ModelArtifact) -> Term {
    match c {
        Column::Numeric(j) => Term::Numeric {
            feature: s.features.numeric[*j].clone(),
            weight,
        },
        Column::Category(j, k) => Term::Category {
            feature: s.features.categorical[*j].clone(),
            value: artifact.vocabularies[*j].values[*k].clone(),
            weight,
        },
        Column::Oov(j) => Term::OutOfVocabulary {
            feature: s.features.categorical[*j].clone(),
            weight,
        },
    }
}

fn term_label(t: &Term) -> (String, f64) {
    match t {
        Term::Numeric { feature, weight } => (feature.clone(), *weight),
        Term::Category {
            feature,
            value,
            weight,
        } => (format!("{feature}={value}"), *weight),
        Term::OutOfVocabulary { feature, weight } => (format!("{feature}=<oov>"), *weight),
        Term::Leaf { tree, node, weight } => (format!("tree {tree} leaf {node}"), *weight),
    }
}

/// Scores a frame through the artifact alone (for sets the model was not fitted on).
pub fn score_frame(scorer: &Scorer, frame: &Frame) -> Vec<f64> {
    let mut numeric = vec![0.0; frame.numeric.len()];
    let mut cats: Vec<Option<&str>> = vec![None; frame.categorical.len()];
    (0..frame.rows())
        .map(|i| {
            for (j, c) in frame.numeric.iter().enumerate() {
                numeric[j] = c[i];
            }
            for (j, c) in frame.categorical.iter().enumerate() {
                cats[j] = c.value(i);
            }
            scorer.probability(&RowValues {
                numeric: &numeric,
                categorical: &cats,
            })
        })
        .collect()
}

/// The negative-class weight when negatives were downsampled; every negative must carry the
/// same weight and every positive weight 1, else recalibration would be wrong.
pub fn negative_weight(frame: &Frame, table: &str) -> Result<f64> {
    let mut w_neg: Option<f64> = None;
    for i in 0..frame.rows() {
        let w = frame.weight[i];
        if frame.label[i] == 1.0 {
            if w != 1.0 {
                bail!(
                    "{table}: a positive row has sample_weight {w}; only negatives are downsampled"
                );
            }
        } else {
            match w_neg {
                None => w_neg = Some(w),
                Some(v) if (v - w).abs() <= 1e-12 * v => {}
                Some(v) => bail!(
                    "{table}: negatives carry different sample weights ({v} and {w}); train on days built with one neg_sample_rate"
                ),
            }
        }
    }
    Ok(w_neg.unwrap_or(1.0))
}

pub fn predictions_parquet(frame: &Frame, scores: &[f64]) -> Result<Vec<u8>> {
    use arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch};
    let batch = RecordBatch::try_from_iter(vec![
        (
            "dt",
            std::sync::Arc::new(Date32Array::from(
                frame
                    .dt
                    .iter()
                    .map(|d| crate::params::date_to_days(*d))
                    .collect::<Vec<_>>(),
            )) as arrow::array::ArrayRef,
        ),
        (
            "user_id",
            std::sync::Arc::new(Int64Array::from(frame.user_id.clone())),
        ),
        (
            "anchor_id",
            std::sync::Arc::new(Int64Array::from(frame.anchor_id.clone())),
        ),
        (
            "label",
            std::sync::Arc::new(Float64Array::from(frame.label.clone())),
        ),
        (
            "sample_weight",
            std::sync::Arc::new(Float64Array::from(frame.weight.clone())),
        ),
        (
            "score",
            std::sync::Arc::new(Float64Array::from(scores.to_vec())),
        ),
    ])?;
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        &mut out,
        batch.schema(),
        Some(crate::parquet_file::writer_properties()),
    )?;
    w.write(&batch)?;
    w.close()?;
    Ok(out)
}
