//! Random tree models for the exporters' unit tests: trees of depth ≤ 3 over two numeric
//! features and one categorical, a third of the splits three-way (a missing branch of its
//! own, which forust never grows but model.json allows), GBDT or GBDT+LR.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::artifact::*;

fn random_tree(rng: &mut ChaCha8Rng, features: usize, cuts: &[f64]) -> Tree {
    // Breadth-first ids; children always after their parent, like forust's trees.
    let mut nodes = Vec::new();
    let mut open = vec![(0usize, 0usize)];
    let mut next = 1;
    while let Some((id, depth)) = open.pop() {
        if depth == 3 || rng.random::<f64>() < 0.2 {
            nodes.push((
                id,
                Node {
                    id,
                    leaf: true,
                    value: Some(rng.random_range(-1.0..1.0)),
                    feature: None,
                    threshold: None,
                    left: None,
                    right: None,
                    missing: None,
                },
            ));
            continue;
        }
        let three_way = rng.random::<f64>() < 0.3;
        let (l, r) = (next, next + 1);
        let m = if three_way {
            next + 2
        } else if rng.random::<bool>() {
            l
        } else {
            r
        };
        next += if three_way { 3 } else { 2 };
        for c in if three_way { vec![l, r, m] } else { vec![l, r] } {
            open.insert(0, (c, depth + 1));
        }
        nodes.push((
            id,
            Node {
                id,
                leaf: false,
                value: None,
                feature: Some(rng.random_range(0..features)),
                threshold: Some(cuts[rng.random_range(0..cuts.len())]),
                left: Some(l),
                right: Some(r),
                missing: Some(m),
            },
        ));
    }
    nodes.sort_by_key(|(id, _)| *id);
    Tree {
        nodes: nodes.into_iter().map(|(_, n)| n).collect(),
    }
}

pub fn model(rng: &mut ChaCha8Rng, model_type: ModelType, cuts: &[f64]) -> ModelArtifact {
    let features = vec![
        FeatureDef {
            name: "x".into(),
            kind: FeatureKind::Numeric,
            source_type: "Float64".into(),
        },
        FeatureDef {
            name: "y".into(),
            kind: FeatureKind::Numeric,
            source_type: "Float64".into(),
        },
        FeatureDef {
            name: "c".into(),
            kind: FeatureKind::Categorical,
            source_type: "Utf8".into(),
        },
    ];
    let trees: Vec<Tree> = (0..20).map(|_| random_tree(rng, 3, cuts)).collect();
    let linear = (model_type == ModelType::GbdtLr).then(|| Linear {
        intercept: -0.4,
        terms: trees
            .iter()
            .enumerate()
            .flat_map(|(t, tree)| {
                tree.nodes
                    .iter()
                    .filter(|n| n.leaf && n.id % 3 != 0)
                    .map(move |n| (t, n.id))
                    .collect::<Vec<_>>()
            })
            .map(|(tree, node)| Term::Leaf {
                tree,
                node,
                weight: rng.random_range(-0.5..0.5),
            })
            .collect(),
    });
    ModelArtifact {
        format_version: FORMAT_VERSION,
        model_type,
        version: "v".into(),
        features,
        numeric_transforms: Vec::new(),
        vocabularies: vec![Vocabulary {
            feature: "c".into(),
            values: vec!["a".into(), "b".into(), "c".into()],
            oov_index: 3,
            min_count: 1,
        }],
        ensemble: Some(Ensemble {
            base_score: 0.3,
            trees,
        }),
        linear,
        interactions: None,
        logit_offset: -1.25,
        scoring: String::new(),
    }
}
