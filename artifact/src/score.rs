//! Scoring a row with a loaded `model.json` (the reference implementation serving follows:
//! docs/artifacts.md), and the preprocessing functions it applies.

use std::collections::HashMap;

use anyhow::{Result, bail};

use super::*;

/// One row's inputs, by feature position: numeric values (NaN = missing) and categorical
/// values (None = missing).
pub struct RowValues<'a> {
    pub numeric: &'a [f64],
    pub categorical: &'a [Option<&'a str>],
}

/// A model loaded for scoring, with lookups built once.
pub struct Scorer {
    pub artifact: ModelArtifact,
    /// Position of each feature within its kind's block.
    slots: Vec<(FeatureKind, usize)>,
    numeric_weights: Vec<f64>,
    category_weights: Vec<HashMap<String, f64>>,
    oov_weights: Vec<f64>,
    leaf_weights: Vec<HashMap<usize, f64>>,
    /// FM: the factor vectors of the same terms (empty vectors for other models).
    numeric_vectors: Vec<Vec<f64>>,
    category_vectors: Vec<HashMap<String, Vec<f64>>>,
    oov_vectors: Vec<Vec<f64>>,
}

impl Scorer {
    pub fn new(artifact: ModelArtifact) -> Result<Self> {
        if artifact.format_version != FORMAT_VERSION {
            bail!(
                "model format_version {} is not supported (this liverec reads {FORMAT_VERSION})",
                artifact.format_version
            );
        }
        let mut slots = Vec::new();
        let (mut n_num, mut n_cat) = (0usize, 0usize);
        for f in &artifact.features {
            match f.kind {
                FeatureKind::Numeric => {
                    slots.push((f.kind, n_num));
                    n_num += 1;
                }
                FeatureKind::Categorical => {
                    slots.push((f.kind, n_cat));
                    n_cat += 1;
                }
            }
        }
        if artifact.vocabularies.len() != n_cat {
            bail!(
                "model.json: {n_cat} categorical features but {} vocabularies",
                artifact.vocabularies.len()
            );
        }
        let position = |name: &str| artifact.features.iter().position(|f| f.name == name);
        let mut numeric_weights = vec![0.0; n_num];
        let mut category_weights = vec![HashMap::new(); n_cat];
        let mut oov_weights = vec![0.0; n_cat];
        let n_trees = artifact.ensemble.as_ref().map_or(0, |e| e.trees.len());
        let mut leaf_weights = vec![HashMap::new(); n_trees];
        let factors = match (&artifact.interactions, artifact.model_type) {
            (Some(i), ModelType::Fm) => i.factors,
            (None, ModelType::Fm) => bail!("model.json: an fm model without interactions"),
            (Some(_), other) => bail!("model.json: a {} model with interactions", other.name()),
            (None, _) => 0,
        };
        let mut numeric_vectors = vec![vec![0.0; factors]; n_num];
        let mut category_vectors = vec![HashMap::new(); n_cat];
        let mut oov_vectors = vec![vec![0.0; factors]; n_cat];
        let linear_inputs = matches!(artifact.model_type, ModelType::Lr | ModelType::Fm);
        if linear_inputs && artifact.numeric_transforms.len() != n_num {
            bail!(
                "model.json: {n_num} numeric features but {} transforms",
                artifact.numeric_transforms.len()
            );
        }
        if let Some(linear) = &artifact.linear {
            let vectors = artifact.interactions.as_ref().map(|i| &i.vectors);
            if let Some(v) = vectors
                && (v.len() != linear.terms.len() || v.iter().any(|v| v.len() != factors))
            {
                bail!(
                    "model.json: interactions need one vector of {factors} factors per term ({} terms)",
                    linear.terms.len()
                );
            }
            for (t, term) in linear.terms.iter().enumerate() {
                let vector = || vectors.map_or_else(Vec::new, |v| v[t].clone());
                let slot = |feature: &str| -> Result<usize> {
                    let i = position(feature).ok_or_else(|| {
                        anyhow::anyhow!("model.json: term names unknown feature `{feature}`")
                    })?;
                    Ok(slots[i].1)
                };
                match term {
                    Term::Numeric { feature, weight } => {
                        let j = slot(feature)?;
                        numeric_weights[j] = *weight;
                        if factors > 0 {
                            numeric_vectors[j] = vector();
                        }
                    }
                    Term::Category {
                        feature,
                        value,
                        weight,
                    } => {
                        let j = slot(feature)?;
                        category_weights[j].insert(value.clone(), *weight);
                        if factors > 0 {
                            category_vectors[j].insert(value.clone(), vector());
                        }
                    }
                    Term::OutOfVocabulary { feature, weight } => {
                        let j = slot(feature)?;
                        oov_weights[j] = *weight;
                        if factors > 0 {
                            oov_vectors[j] = vector();
                        }
                    }
                    Term::Leaf { tree, node, weight } => {
                        let Some(map) = leaf_weights.get_mut(*tree) else {
                            bail!("model.json: leaf term names tree {tree} of {n_trees}");
                        };
                        map.insert(*node, *weight);
                    }
                }
            }
        }
        for (t, tree) in artifact
            .ensemble
            .iter()
            .flat_map(|e| e.trees.iter())
            .enumerate()
        {
            for (i, node) in tree.nodes.iter().enumerate() {
                let bad = |what: &str| anyhow::anyhow!("model.json: tree {t} node {i}: {what}");
                if node.id != i {
                    return Err(bad("id differs from its position"));
                }
                if node.leaf {
                    node.value.ok_or_else(|| bad("leaf without value"))?;
                } else {
                    let f = node.feature.ok_or_else(|| bad("no feature"))?;
                    if f >= artifact.features.len() {
                        return Err(bad("feature out of range"));
                    }
                    node.threshold.ok_or_else(|| bad("no threshold"))?;
                    for child in [node.left, node.right, node.missing] {
                        match child {
                            Some(c) if c > i && c < tree.nodes.len() => {}
                            _ => return Err(bad("child missing or not after its parent")),
                        }
                    }
                }
            }
        }
        Ok(Self {
            artifact,
            slots,
            numeric_weights,
            category_weights,
            oov_weights,
            leaf_weights,
            numeric_vectors,
            category_vectors,
            oov_vectors,
        })
    }

    /// The tree input vector of a row (see `Ensemble`).
    fn tree_input(&self, row: &RowValues) -> Vec<f64> {
        self.slots
            .iter()
            .map(|&(kind, j)| match kind {
                FeatureKind::Numeric => row.numeric[j],
                FeatureKind::Categorical => match row.categorical[j] {
                    None => f64::NAN,
                    v => self.artifact.vocabularies[j].index(v) as f64,
                },
            })
            .collect()
    }

    /// The leaf node id each tree sends the row to.
    fn leaves(&self, x: &[f64]) -> Vec<usize> {
        let trees = self
            .artifact
            .ensemble
            .as_ref()
            .map_or(&[][..], |e| &e.trees);
        trees
            .iter()
            .map(|tree| {
                let mut i = 0;
                loop {
                    let node = &tree.nodes[i];
                    if node.leaf {
                        return i;
                    }
                    let v = x[node.feature.unwrap_or(0)];
                    // Validated in `new`: internal nodes have all three children.
                    i = if v.is_nan() {
                        node.missing.unwrap_or(0)
                    } else if v < node.threshold.unwrap_or(0.0) {
                        node.left.unwrap_or(0)
                    } else {
                        node.right.unwrap_or(0)
                    };
                }
            })
            .collect()
    }

    /// The row's log-odds before `logit_offset`.
    pub fn raw(&self, row: &RowValues) -> f64 {
        let a = &self.artifact;
        match a.model_type {
            ModelType::Gbdt => {
                let ensemble = a.ensemble.as_ref().expect("validated");
                let x = self.tree_input(row);
                let mut z = ensemble.base_score;
                for (tree, leaf) in ensemble.trees.iter().zip(self.leaves(&x)) {
                    z += tree.nodes[leaf].value.unwrap_or(0.0);
                }
                z
            }
            ModelType::GbdtLr => {
                let x = self.tree_input(row);
                let mut z = a.linear.as_ref().map_or(0.0, |l| l.intercept);
                for (t, leaf) in self.leaves(&x).into_iter().enumerate() {
                    z += self.leaf_weights[t].get(&leaf).copied().unwrap_or(0.0);
                }
                z
            }
            ModelType::Lr | ModelType::Fm => {
                // The term inputs x_t with their weights (and FM vectors): one per numeric
                // feature, and the one matching category (or OOV) per categorical feature.
                let factors = a.interactions.as_ref().map_or(0, |i| i.factors);
                let mut z = a.linear.as_ref().map_or(0.0, |l| l.intercept);
                let (mut sum, mut squares) = (vec![0.0; factors], vec![0.0; factors]);
                let mut add = |x: f64, weight: f64, vector: &[f64]| {
                    z += weight * x;
                    for ((s, q), v) in sum.iter_mut().zip(squares.iter_mut()).zip(vector) {
                        *s += v * x;
                        *q += (v * x) * (v * x);
                    }
                };
                for (j, t) in a.numeric_transforms.iter().enumerate() {
                    let x = standardize(row.numeric[j], t.mean, t.std);
                    add(x, self.numeric_weights[j], &self.numeric_vectors[j]);
                }
                for (j, vocab) in a.vocabularies.iter().enumerate() {
                    let value = row.categorical[j];
                    if vocab.index(value) == vocab.oov_index {
                        add(1.0, self.oov_weights[j], &self.oov_vectors[j]);
                    } else {
                        let value = value.unwrap_or_default();
                        let weight = self.category_weights[j].get(value).copied();
                        let vector = self.category_vectors[j].get(value);
                        add(
                            1.0,
                            weight.unwrap_or(0.0),
                            vector.map_or(&[][..], Vec::as_slice),
                        );
                    }
                }
                z + 0.5
                    * sum
                        .iter()
                        .zip(&squares)
                        .map(|(s, q)| s * s - q)
                        .sum::<f64>()
            }
        }
    }

    /// The calibrated probability.
    pub fn probability(&self, row: &RowValues) -> f64 {
        sigmoid(self.raw(row) + self.artifact.logit_offset)
    }

    pub fn numeric_features(&self) -> impl Iterator<Item = &FeatureDef> {
        self.artifact
            .features
            .iter()
            .filter(|f| f.kind == FeatureKind::Numeric)
    }

    pub fn categorical_features(&self) -> impl Iterator<Item = &FeatureDef> {
        self.artifact
            .features
            .iter()
            .filter(|f| f.kind == FeatureKind::Categorical)
    }
}

pub fn slog1p(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

/// LR input of a numeric value; missing (NaN) maps to the mean, i.e. 0.
pub fn standardize(x: f64, mean: f64, std: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        (slog1p(x) - mean) / std
    }
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, kind: FeatureKind) -> FeatureDef {
        FeatureDef {
            name: name.into(),
            kind,
            source_type: String::new(),
        }
    }

    fn leaf(id: usize, value: f64) -> Node {
        Node {
            id,
            leaf: true,
            value: Some(value),
            feature: None,
            threshold: None,
            left: None,
            right: None,
            missing: None,
        }
    }

    fn base(model_type: ModelType) -> ModelArtifact {
        ModelArtifact {
            format_version: FORMAT_VERSION,
            model_type,
            version: "v".into(),
            features: vec![
                feature("x", FeatureKind::Numeric),
                feature("city", FeatureKind::Categorical),
            ],
            numeric_transforms: Vec::new(),
            vocabularies: vec![Vocabulary {
                feature: "city".into(),
                values: vec!["a".into(), "b".into()],
                oov_index: 2,
                min_count: 1,
            }],
            ensemble: None,
            linear: None,
            interactions: None,
            logit_offset: 0.0,
            scoring: String::new(),
        }
    }

    /// Root splits x < 10 (missing goes right); the left child splits city index < 1.
    fn tree() -> Tree {
        Tree {
            nodes: vec![
                Node {
                    id: 0,
                    leaf: false,
                    value: None,
                    feature: Some(0),
                    threshold: Some(10.0),
                    left: Some(1),
                    right: Some(2),
                    missing: Some(2),
                },
                Node {
                    id: 1,
                    leaf: false,
                    value: None,
                    feature: Some(1),
                    threshold: Some(1.0),
                    left: Some(3),
                    right: Some(4),
                    missing: Some(3),
                },
                leaf(2, 0.5),
                leaf(3, -1.0),
                leaf(4, 2.0),
            ],
        }
    }

    fn raw(s: &Scorer, x: f64, city: Option<&str>) -> f64 {
        s.raw(&RowValues {
            numeric: &[x],
            categorical: &[city],
        })
    }

    #[test]
    fn trees_route_by_threshold_missing_and_vocabulary() {
        let mut a = base(ModelType::Gbdt);
        a.ensemble = Some(Ensemble {
            base_score: 0.25,
            trees: vec![tree()],
        });
        let s = Scorer::new(a).unwrap();
        assert_eq!(raw(&s, 12.0, Some("a")), 0.75); // x >= 10: right
        assert_eq!(raw(&s, f64::NAN, Some("a")), 0.75); // missing x: right
        assert_eq!(raw(&s, 3.0, Some("a")), -0.75); // city a = index 0 < 1
        assert_eq!(raw(&s, 3.0, Some("b")), 2.25); // index 1
        assert_eq!(raw(&s, 3.0, Some("zzz")), 2.25); // OOV = index 2
        assert_eq!(raw(&s, 3.0, None), -0.75); // missing city: missing branch
    }

    #[test]
    fn linear_terms_cover_numeric_category_and_oov() {
        let mut a = base(ModelType::Lr);
        a.numeric_transforms = vec![NumericTransform {
            feature: "x".into(),
            transform: "slog1p".into(),
            mean: 1.0,
            std: 2.0,
        }];
        a.linear = Some(Linear {
            intercept: 0.1,
            terms: vec![
                Term::Numeric {
                    feature: "x".into(),
                    weight: 4.0,
                },
                Term::Category {
                    feature: "city".into(),
                    value: "b".into(),
                    weight: 0.5,
                },
                Term::OutOfVocabulary {
                    feature: "city".into(),
                    weight: -0.3,
                },
            ],
        });
        a.logit_offset = -0.1;
        let s = Scorer::new(a).unwrap();
        let x = std::f64::consts::E - 1.0; // slog1p(x) = 1 = mean
        assert!((raw(&s, x, Some("a")) - 0.1).abs() < 1e-12); // city a has weight 0
        assert!((raw(&s, x, Some("b")) - 0.6).abs() < 1e-12);
        assert!((raw(&s, f64::NAN, None) - (0.1 - 0.3)).abs() < 1e-12);
        assert!((raw(&s, 0.0, Some("new")) - (0.1 - 2.0 - 0.3)).abs() < 1e-12);
        let p = s.probability(&RowValues {
            numeric: &[x],
            categorical: &[Some("b")],
        });
        assert!((p - sigmoid(0.5)).abs() < 1e-12);
    }

    #[test]
    fn malformed_artifacts_are_refused() {
        let mut a = base(ModelType::Gbdt);
        let mut t = tree();
        t.nodes[1].left = Some(0); // a cycle back to the root
        a.ensemble = Some(Ensemble {
            base_score: 0.0,
            trees: vec![t],
        });
        let err = Scorer::new(a).err().unwrap().to_string();
        assert!(err.contains("tree 0 node 1"), "{err}");
        let mut b = base(ModelType::Gbdt);
        b.format_version = 99;
        assert!(Scorer::new(b).is_err());
    }

    #[test]
    fn fm_adds_the_pairwise_products_of_its_term_vectors() {
        let mut a = base(ModelType::Fm);
        a.numeric_transforms = vec![NumericTransform {
            feature: "x".into(),
            transform: "slog1p".into(),
            mean: 0.5,
            std: 2.0,
        }];
        let term = |kind: &str, value: &str, weight: f64| match kind {
            "numeric" => Term::Numeric {
                feature: "x".into(),
                weight,
            },
            "oov" => Term::OutOfVocabulary {
                feature: "city".into(),
                weight,
            },
            _ => Term::Category {
                feature: "city".into(),
                value: value.into(),
                weight,
            },
        };
        a.linear = Some(Linear {
            intercept: -0.2,
            terms: vec![
                term("numeric", "", 0.7),
                term("category", "a", 0.1),
                term("category", "b", -0.4),
                term("oov", "", 0.3),
            ],
        });
        let vectors = vec![
            vec![0.5, -1.0, 0.25],
            vec![1.5, 0.5, -0.5],
            vec![-0.3, 0.2, 0.9],
            vec![0.0, 2.0, 1.0],
        ];
        a.interactions = Some(Interactions {
            factors: 3,
            vectors: vectors.clone(),
        });
        let s = Scorer::new(a.clone()).unwrap();
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        // Two active terms per row: x's and the city's, so one pair.
        for (x, city, t, w) in [
            (3.0, Some("a"), 1, 0.1),
            (3.0, Some("b"), 2, -0.4),
            (-1.0, Some("zzz"), 3, 0.3),
            (f64::NAN, None, 3, 0.3),
        ] {
            let xs = standardize(x, 0.5, 2.0);
            let want = -0.2 + 0.7 * xs + w + dot(&vectors[0], &vectors[t]) * xs;
            let got = raw(&s, x, city);
            assert!((got - want).abs() < 1e-12, "{x} {city:?}: {got} vs {want}");
        }
        // Vectors that do not match the terms are refused by name.
        a.interactions.as_mut().unwrap().vectors.pop();
        let err = Scorer::new(a).err().unwrap().to_string();
        assert!(err.contains("one vector of 3 factors per term"), "{err}");
    }
}
