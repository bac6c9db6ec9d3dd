//! `model.onnx`: every model type as an ONNX graph (opset 17, ONNX-ML 3), so onnxruntime in
//! any language scores it without liverec.
//!
//! Inputs: one per feature, named as the feature, shape [N, 1]: `tensor(double)` for a
//! numeric feature (NaN = missing), `tensor(string)` for a categorical one (the empty
//! string = missing). Output `probability`, shape [N], `tensor(double)`: the same calibrated
//! probability as model.json (with `logit_offset`).
//! - LR / FM: the numeric inputs are concatenated and transformed as `numeric_transforms`
//!   say (`slog1p`, standardize, NaN → 0) in double; a LabelEncoder maps each categorical
//!   value to its vocabulary index (anything else → `oov_index`) and Gather picks the
//!   term's weight (and FM vector); FM's pairwise term is
//!   `0.5 Σ_f [(Σ_t v_tf x_t)² − Σ_t v_tf² x_t²]` from two MatMuls and the gathered vectors.
//! - GBDT / GBDT+LR: the tree input vector (numeric raw; categorical vocabulary index from a
//!   LabelEncoder, the empty string → NaN, unseen → `oov_index`) into a
//!   TreeEnsembleRegressor whose thresholds are a double tensor (`nodes_values_as_tensor`),
//!   so every split decides exactly as liverec's; leaves carry GBDT's values or GBDT+LR's LR
//!   weights (`target_weights_as_tensor`); the constant is added after, in double. The
//!   regressor's output is float32 (the operator's definition), which bounds the difference
//!   to float rounding of the leaf sum.

mod graph;
mod proto;

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use prost::Message;

use self::graph::{Attr, Graph, ML, tensor_doubles};
use self::proto::{ModelProto, OperatorSetIdProto, data_type};
use super::artifact::{FeatureKind, ModelArtifact, ModelType, Split, Term};

/// File name in the model version folder.
pub const ONNX_MODEL: &str = "model.onnx";

/// The serialized ONNX model of `a`.
pub fn export(a: &ModelArtifact) -> Result<Vec<u8>> {
    let mut g = Graph::default();
    g.proto.name = format!("liverec_{}", a.model_type.name());
    for f in &a.features {
        let t = match f.kind {
            FeatureKind::Numeric => data_type::DOUBLE,
            FeatureKind::Categorical => data_type::STRING,
        };
        g.input(&f.name, t);
    }
    let z = match a.model_type {
        ModelType::Lr | ModelType::Fm => linear(&mut g, a)?,
        ModelType::Gbdt | ModelType::GbdtLr => trees(&mut g, a)?,
    };
    let p = g.op("Sigmoid", &[&z]);
    let shape = g.ints("flat", &[1], vec![-1]);
    g.op_into("", "Reshape", &[&p, &shape], Vec::new(), "probability");
    g.output("probability", data_type::DOUBLE);
    let model = ModelProto {
        ir_version: 8,
        producer_name: "liverec".into(),
        producer_version: crate::version::LIVEREC_VERSION.to_string(),
        doc_string: format!("liverec {} model {}", a.model_type.name(), a.version),
        graph: Some(g.proto),
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            OperatorSetIdProto {
                domain: ML.into(),
                version: 3,
            },
        ],
    };
    Ok(model.encode_to_vec())
}

/// A term's weight and, for FM, its vector.
type Entry<'a> = (f64, Option<&'a [f64]>);

/// Weight (and FM vector) of every term, looked up by what it applies to.
struct Terms<'a> {
    numeric: HashMap<&'a str, Entry<'a>>,
    category: HashMap<(&'a str, &'a str), Entry<'a>>,
    oov: HashMap<&'a str, Entry<'a>>,
}

fn terms(a: &ModelArtifact) -> Result<(f64, Terms<'_>)> {
    let Some(linear) = &a.linear else {
        bail!(
            "model.json: a {} model without its linear terms",
            a.model_type.name()
        );
    };
    let vectors = a.interactions.as_ref().map(|i| &i.vectors);
    let mut t = Terms {
        numeric: HashMap::new(),
        category: HashMap::new(),
        oov: HashMap::new(),
    };
    for (k, term) in linear.terms.iter().enumerate() {
        let v = vectors.and_then(|v| v.get(k)).map(Vec::as_slice);
        match term {
            Term::Numeric { feature, weight } => {
                t.numeric.insert(feature, (*weight, v));
            }
            Term::Category {
                feature,
                value,
                weight,
            } => {
                t.category.insert((feature, value), (*weight, v));
            }
            Term::OutOfVocabulary { feature, weight } => {
                t.oov.insert(feature, (*weight, v));
            }
            Term::Leaf { .. } => {
                bail!("model.json: a leaf term in a {} model", a.model_type.name())
            }
        }
    }
    Ok((linear.intercept, t))
}

/// LR's (and FM's) log-odds, [N, 1].
fn linear(g: &mut Graph, a: &ModelArtifact) -> Result<String> {
    let (intercept, t) = terms(a)?;
    let k = a.interactions.as_ref().map_or(0, |i| i.factors);
    let mut parts = Vec::new();
    // FM: Σ_t v_t x_t and Σ_t v_t² x_t², [N, k] each.
    let (mut sums, mut squares): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let n = a.numeric_transforms.len() as i64;
    if n > 0 {
        let names: Vec<&str> = a
            .numeric_transforms
            .iter()
            .map(|t| t.feature.as_str())
            .collect();
        let x = g.op_in("", "Concat", &names, vec![("axis", Attr::Int(1))]);
        let one = g.doubles("one", &[1], vec![1.0]);
        let zero = g.doubles("zero", &[1], vec![0.0]);
        let abs = g.op("Abs", &[&x]);
        let abs1 = g.op("Add", &[&abs, &one]);
        let log = g.op("Log", &[&abs1]);
        let sign = g.op("Sign", &[&x]);
        let slog = g.op("Mul", &[&sign, &log]);
        let mean = g.doubles(
            "mean",
            &[n],
            a.numeric_transforms.iter().map(|t| t.mean).collect(),
        );
        let std = g.doubles(
            "std",
            &[n],
            a.numeric_transforms.iter().map(|t| t.std).collect(),
        );
        let centred = g.op("Sub", &[&slog, &mean]);
        let scaled = g.op("Div", &[&centred, &std]);
        let missing = g.op("IsNaN", &[&x]);
        let z = g.op("Where", &[&missing, &zero, &scaled]);
        let lookup = |f: &str| t.numeric.get(f).copied().unwrap_or((0.0, None));
        let w = g.doubles(
            "numeric_weights",
            &[n, 1],
            names.iter().map(|f| lookup(f).0).collect(),
        );
        parts.push(g.op("MatMul", &[&z, &w]));
        if k > 0 {
            let mut v = Vec::with_capacity(names.len() * k);
            for f in &names {
                v.extend(vector(lookup(f).1, k)?);
            }
            let v2 = v.iter().map(|x| x * x).collect();
            let v = g.doubles("numeric_vectors", &[n, k as i64], v);
            let v2 = g.doubles("numeric_vectors_sq", &[n, k as i64], v2);
            let z2 = g.op("Mul", &[&z, &z]);
            sums.push(g.op("MatMul", &[&z, &v]));
            squares.push(g.op("MatMul", &[&z2, &v2]));
        }
    }
    let flat_k = g.ints("shape_nk", &[2], vec![-1, k as i64]);
    for vocab in &a.vocabularies {
        let f = vocab.feature.as_str();
        let idx = g.op_in(
            ML,
            "LabelEncoder",
            &[f],
            vec![
                ("keys_strings", Attr::Strs(vocab.values.clone())),
                (
                    "values_int64s",
                    Attr::Ints((0..vocab.values.len() as i64).collect()),
                ),
                ("default_int64", Attr::Int(vocab.oov_index as i64)),
            ],
        );
        let entry = |i: usize| match vocab.values.get(i) {
            Some(value) => t.category.get(&(f, value.as_str())).copied(),
            None => t.oov.get(f).copied(),
        };
        let size = vocab.oov_index as i64 + 1;
        let weights = (0..=vocab.oov_index)
            .map(|i| entry(i).map_or(0.0, |e| e.0))
            .collect();
        let w = g.doubles("category_weights", &[size], weights);
        parts.push(g.op("Gather", &[&w, &idx]));
        if k > 0 {
            let mut v = Vec::with_capacity(size as usize * k);
            for i in 0..=vocab.oov_index {
                v.extend(vector(entry(i).and_then(|e| e.1), k)?);
            }
            let v2 = v.iter().map(|x| x * x).collect();
            let v = g.doubles("category_vectors", &[size, k as i64], v);
            let v2 = g.doubles("category_vectors_sq", &[size, k as i64], v2);
            let picked = g.op("Gather", &[&v, &idx]);
            let picked2 = g.op("Gather", &[&v2, &idx]);
            sums.push(g.op("Reshape", &[&picked, &flat_k]));
            squares.push(g.op("Reshape", &[&picked2, &flat_k]));
        }
    }
    if k > 0 && !sums.is_empty() {
        let s = add_all(g, &sums);
        let q = add_all(g, &squares);
        let s2 = g.op("Mul", &[&s, &s]);
        let diff = g.op("Sub", &[&s2, &q]);
        let axes = g.ints("axis1", &[1], vec![1]);
        let total = g.op_in(
            "",
            "ReduceSum",
            &[&diff, &axes],
            vec![("keepdims", Attr::Int(1))],
        );
        let half = g.doubles("half", &[1], vec![0.5]);
        parts.push(g.op("Mul", &[&total, &half]));
    }
    let constant = g.doubles("intercept", &[1], vec![intercept + a.logit_offset]);
    parts.push(constant);
    Ok(add_all(g, &parts))
}

fn vector(v: Option<&[f64]>, k: usize) -> Result<Vec<f64>> {
    match v {
        Some(v) if v.len() == k => Ok(v.to_vec()),
        Some(v) => bail!(
            "model.json: an interaction vector of {} factors, not {k}",
            v.len()
        ),
        None => Ok(vec![0.0; k]),
    }
}

fn add_all(g: &mut Graph, parts: &[String]) -> String {
    let mut acc = parts[0].clone();
    for p in &parts[1..] {
        acc = g.op("Add", &[&acc, p]);
    }
    acc
}

/// GBDT's (and GBDT+LR's) log-odds, [N, 1].
fn trees(g: &mut Graph, a: &ModelArtifact) -> Result<String> {
    let Some(ensemble) = &a.ensemble else {
        bail!("model.json: a {} model without trees", a.model_type.name());
    };
    // The tree input vector, [N, features].
    let mut vocabs = a.vocabularies.iter();
    let mut columns = Vec::new();
    for f in &a.features {
        match f.kind {
            FeatureKind::Numeric => columns.push(f.name.clone()),
            FeatureKind::Categorical => {
                let Some(vocab) = vocabs.next() else {
                    bail!("model.json: fewer vocabularies than categorical features");
                };
                let mut keys = vocab.values.clone();
                let mut values: Vec<f32> = (0..keys.len()).map(|i| i as f32).collect();
                if vocab.values.iter().all(|v| !v.is_empty()) {
                    // The empty string stands for a missing value: the trees' missing branch.
                    keys.push(String::new());
                    values.push(f32::NAN);
                }
                let code = g.op_in(
                    ML,
                    "LabelEncoder",
                    &[&f.name],
                    vec![
                        ("keys_strings", Attr::Strs(keys)),
                        ("values_floats", Attr::Floats(values)),
                        ("default_float", Attr::Float(vocab.oov_index as f32)),
                    ],
                );
                let code = g.op_in(
                    "",
                    "Cast",
                    &[&code],
                    vec![("to", Attr::Int(data_type::DOUBLE as i64))],
                );
                columns.push(code);
            }
        }
    }
    let refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let x = g.op_in("", "Concat", &refs, vec![("axis", Attr::Int(1))]);

    let leaves = a.leaf_outputs()?;
    let mut e = Ensemble::default();
    for (t, tree) in ensemble.trees.iter().enumerate() {
        let n = tree.nodes.len();
        let mut extra = n;
        for (i, node) in tree.nodes.iter().enumerate() {
            if node.leaf {
                e.leaf(t, i, leaves.value(t, node));
                continue;
            }
            let Split {
                feature: f,
                threshold,
                left,
                right,
                missing,
            } = node.split().with_context(|| format!("tree {t}"))?;
            if missing == left || missing == right {
                e.split(t, i, f, threshold, left, right, missing == left);
            } else {
                // Present values go on to `left` through a split no value fails; NaN does.
                e.split(t, i, f, threshold, extra, right, true);
                e.split(t, extra, f, f64::MAX, left, missing, false);
                extra += 1;
            }
        }
    }
    let raw = g.op_in(ML, "TreeEnsembleRegressor", &[&x], e.attributes());
    let raw = g.op_in(
        "",
        "Cast",
        &[&raw],
        vec![("to", Attr::Int(data_type::DOUBLE as i64))],
    );
    let constant = g.doubles("constant", &[1], vec![leaves.constant + a.logit_offset]);
    Ok(g.op("Add", &[&raw, &constant]))
}

/// TreeEnsembleRegressor's parallel attribute arrays.
#[derive(Default)]
struct Ensemble {
    tree: Vec<i64>,
    node: Vec<i64>,
    feature: Vec<i64>,
    mode: Vec<String>,
    value: Vec<f64>,
    yes: Vec<i64>,
    no: Vec<i64>,
    missing_yes: Vec<i64>,
    target_tree: Vec<i64>,
    target_node: Vec<i64>,
    target_weight: Vec<f64>,
}

impl Ensemble {
    #[allow(clippy::too_many_arguments)]
    fn split(
        &mut self,
        t: usize,
        i: usize,
        f: usize,
        threshold: f64,
        yes: usize,
        no: usize,
        missing_yes: bool,
    ) {
        self.tree.push(t as i64);
        self.node.push(i as i64);
        self.feature.push(f as i64);
        self.mode.push("BRANCH_LT".into());
        self.value.push(threshold);
        self.yes.push(yes as i64);
        self.no.push(no as i64);
        self.missing_yes.push(missing_yes as i64);
    }

    fn leaf(&mut self, t: usize, i: usize, value: f64) {
        self.tree.push(t as i64);
        self.node.push(i as i64);
        self.feature.push(0);
        self.mode.push("LEAF".into());
        self.value.push(0.0);
        self.yes.push(0);
        self.no.push(0);
        self.missing_yes.push(0);
        self.target_tree.push(t as i64);
        self.target_node.push(i as i64);
        self.target_weight.push(value);
    }

    fn attributes(self) -> Vec<(&'static str, Attr)> {
        let targets = self.target_tree.len();
        vec![
            ("n_targets", Attr::Int(1)),
            ("aggregate_function", Attr::Str("SUM".into())),
            ("post_transform", Attr::Str("NONE".into())),
            ("nodes_treeids", Attr::Ints(self.tree)),
            ("nodes_nodeids", Attr::Ints(self.node)),
            ("nodes_featureids", Attr::Ints(self.feature)),
            ("nodes_modes", Attr::Strs(self.mode)),
            (
                "nodes_values_as_tensor",
                Attr::Tensor(tensor_doubles(self.value)),
            ),
            ("nodes_truenodeids", Attr::Ints(self.yes)),
            ("nodes_falsenodeids", Attr::Ints(self.no)),
            (
                "nodes_missing_value_tracks_true",
                Attr::Ints(self.missing_yes),
            ),
            ("target_treeids", Attr::Ints(self.target_tree)),
            ("target_nodeids", Attr::Ints(self.target_node)),
            ("target_ids", Attr::Ints(vec![0; targets])),
            (
                "target_weights_as_tensor",
                Attr::Tensor(tensor_doubles(self.target_weight)),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::artifact::{RowValues, Scorer};
    use super::super::random_models::model;
    use super::proto::AttributeProto;
    use super::*;

    /// The TreeEnsembleRegressor of an exported model, walked as the ONNX-ML specification
    /// defines it (BRANCH_LT: `x < value` takes the true branch; NaN takes the true branch
    /// only when `nodes_missing_value_tracks_true`), summing the target weights.
    fn ensemble_sum(bytes: &[u8], x: &[f64]) -> f64 {
        let model = ModelProto::decode(bytes).unwrap();
        let graph = model.graph.unwrap();
        let node = graph
            .node
            .iter()
            .find(|n| n.op_type == "TreeEnsembleRegressor")
            .unwrap();
        let attr = |name: &str| -> &AttributeProto {
            node.attribute.iter().find(|a| a.name == name).unwrap()
        };
        let ints = |name: &str| attr(name).ints.clone();
        let (trees, ids) = (ints("nodes_treeids"), ints("nodes_nodeids"));
        let (features, yes, no) = (
            ints("nodes_featureids"),
            ints("nodes_truenodeids"),
            ints("nodes_falsenodeids"),
        );
        let missing_yes = ints("nodes_missing_value_tracks_true");
        let modes = &attr("nodes_modes").strings;
        let values = &attr("nodes_values_as_tensor")
            .t
            .as_ref()
            .unwrap()
            .double_data;
        let (target_trees, target_nodes) = (ints("target_treeids"), ints("target_nodeids"));
        let weights = &attr("target_weights_as_tensor")
            .t
            .as_ref()
            .unwrap()
            .double_data;
        let at = |t: i64, id: i64| {
            (0..ids.len())
                .find(|&k| trees[k] == t && ids[k] == id)
                .unwrap()
        };
        let mut total = 0.0;
        for t in 0..=*trees.iter().max().unwrap() {
            let mut k = at(t, 0);
            while modes[k] != b"LEAF" {
                assert_eq!(modes[k], b"BRANCH_LT");
                let v = x[features[k] as usize];
                let go_yes = if v.is_nan() {
                    missing_yes[k] == 1
                } else {
                    v < values[k]
                };
                k = at(t, if go_yes { yes[k] } else { no[k] });
            }
            let leaf = (0..target_trees.len())
                .find(|&j| target_trees[j] == t && target_nodes[j] == ids[k])
                .unwrap();
            total += weights[leaf];
        }
        total
    }

    #[test]
    fn the_tree_ensemble_decides_as_liverec_does_with_three_way_splits() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let cuts = [0.1, 0.5, 1.0 / 3.0, 2.0, 7.25, 1e-3, 1.5, 2.5];
        for model_type in [ModelType::Gbdt, ModelType::GbdtLr] {
            let artifact = model(&mut rng, model_type, &cuts);
            let constant = match model_type {
                ModelType::Gbdt => artifact.ensemble.as_ref().unwrap().base_score,
                _ => artifact.linear.as_ref().unwrap().intercept,
            };
            let bytes = export(&artifact).unwrap();
            let scorer = Scorer::new(artifact).unwrap();
            let vocab = scorer.artifact.vocabularies[0].clone();
            let value = |rng: &mut ChaCha8Rng| match rng.random_range(0..4) {
                0 => f64::NAN,
                1 => cuts[rng.random_range(0..cuts.len())],
                _ => rng.random_range(-1.0..8.0),
            };
            for _ in 0..2000 {
                let numeric = [value(&mut rng), value(&mut rng)];
                let category = [Some("a"), Some("c"), Some("unseen"), None][rng.random_range(0..4)];
                let raw = scorer.raw(&RowValues {
                    numeric: &numeric,
                    categorical: &[category],
                });
                let code = category.map_or(f64::NAN, |c| vocab.index(Some(c)) as f64);
                let sum = ensemble_sum(&bytes, &[numeric[0], numeric[1], code]);
                assert!(
                    (constant + sum - raw).abs() < 1e-12,
                    "{model_type:?}: {} vs {raw}",
                    constant + sum
                );
            }
        }
    }
}
