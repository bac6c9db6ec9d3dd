//! The `train` job: read the training set ending at E (its manifest says which days train
//! and which day validates — never a random split), fit LR, GBDT or GBDT+LR, evaluate on the
//! validation day, write a versioned artifact, and move LATEST when the gate passes.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use super::artifact::{
    FORMAT_VERSION, FeatureDef, FeatureKind, Linear, ModelArtifact, ModelType, RowValues, Scorer,
    Term, sigmoid,
};
use super::data::{self, Frame, ReadSpec};
use super::gbdt::{FittedGbdt, GbdtParams};
use super::lr::FittedLr;
use super::metrics::{self, Metrics};
use super::prep::{self, Column};
use super::publish::{self, ModelManifest};
use super::report::{self, ReportInput};
use crate::job::FeatureList;
use crate::manifest::LIVEREC_VERSION;
use crate::params::{ParamValue, Params};
use crate::runner::{OutputReport, RunReport, RunRequest, new_run_id};
use crate::storage::{Storage, partition_name};
use crate::writer::read_manifest;

/// A model that trained fine but did not pass the gate (not worth retrying).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateFailed(pub String);

/// The parts of a training-set manifest the trainer needs.
#[derive(Debug, Deserialize)]
struct TrainingSet {
    end: NaiveDate,
    train_days: Vec<NaiveDate>,
    validation_day: NaiveDate,
    days: Vec<TrainingDay>,
    params: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct TrainingDay {
    dt: NaiveDate,
    rows: u64,
    exposure_rows: u64,
}

struct Settings<'a> {
    model: ModelType,
    features: &'a FeatureList,
    sample_table: String,
    min_category_count: u64,
    l2: f64,
    lr_max_iter: u64,
    gbdt: GbdtParams,
    max_train_rows: u64,
    seed: i64,
    min_auc: f64,
    max_auc_drop: f64,
}

fn settings<'a>(params: &Params, features: &'a FeatureList) -> Result<Settings<'a>> {
    let int = |k: &str| -> Result<i64> {
        params
            .get(k)
            .and_then(ParamValue::as_int)
            .with_context(|| format!("parameter `{k}`"))
    };
    let float = |k: &str| -> Result<f64> {
        match params.get(k) {
            Some(ParamValue::Float(f)) => Ok(*f),
            Some(ParamValue::Int(i)) => Ok(*i as f64),
            _ => bail!("parameter `{k}`"),
        }
    };
    let string = |k: &str| -> Result<String> {
        match params.get(k) {
            Some(ParamValue::Str(s)) => Ok(s.clone()),
            _ => bail!("parameter `{k}`"),
        }
    };
    let seed = int("train_seed")?;
    let model = ModelType::parse(&string("model")?)?;
    // GBDT+LR's trees only encode rows as leaves: fewer and smaller (their own parameters).
    let (trees, max_depth, max_leaves) = if model == ModelType::GbdtLr {
        (
            int("gbdt_lr_trees")?,
            int("gbdt_lr_max_depth")?,
            int("gbdt_lr_max_leaves")?,
        )
    } else {
        (int("trees")?, int("max_depth")?, int("max_leaves")?)
    };
    Ok(Settings {
        model,
        features,
        sample_table: string("sample_table")?,
        min_category_count: int("min_category_count")? as u64,
        l2: float("l2")?,
        lr_max_iter: int("lr_max_iter")? as u64,
        gbdt: GbdtParams {
            trees: trees as usize,
            max_depth: max_depth as usize,
            max_leaves: max_leaves as usize,
            learning_rate: float("learning_rate")?,
            subsample: float("subsample")?,
            min_child_weight: float("min_child_weight")?,
            nbins: int("nbins")? as u16,
            seed: seed as u64,
        },
        max_train_rows: int("max_train_rows")? as u64,
        seed,
        min_auc: float("min_auc")?,
        max_auc_drop: float("max_auc_drop")?,
    })
}

/// Estimated bytes of memory per training row, for the row cap.
fn bytes_per_row(s: &Settings) -> u64 {
    let n = s.features.numeric.len() as u64;
    let c = s.features.categorical.len() as u64;
    let frame = (n + c) * 8 + 48;
    let lr = (n + 64 * c) * 8;
    let trees = (n + c) * 20 + 64;
    let leaves = (s.gbdt.trees * s.gbdt.max_leaves) as u64 * 8;
    frame
        + match s.model {
            ModelType::Lr => lr,
            ModelType::Gbdt => trees,
            ModelType::GbdtLr => trees + leaves,
        }
}

/// What the fitted model says about a frame, via the library that trained it.
struct Fitted {
    artifact: ModelArtifact,
    lr: Option<FittedLr>,
    gbdt: Option<FittedGbdt>,
    lr_columns: Vec<Column>,
    /// (name, value) for the report: importances or coefficients, largest first.
    weights: Vec<(String, f64)>,
}

impl Fitted {
    /// Calibrated probabilities (training code path: linfa / forust predictions).
    fn predict(&self, frame: &Frame) -> Vec<f64> {
        let a = &self.artifact;
        let rows = frame.rows();
        let cols = a.features.len();
        let offset = a.logit_offset;
        let adjust = |p: f64| {
            if offset == 0.0 {
                p
            } else {
                sigmoid((p / (1.0 - p)).ln() + offset)
            }
        };
        match a.model_type {
            ModelType::Lr => {
                let x = prep::lr_design(
                    frame,
                    &a.numeric_transforms,
                    &a.vocabularies,
                    &self.lr_columns,
                );
                let lr = self.lr.as_ref().expect("lr fitted");
                lr.predict(&x).into_iter().map(adjust).collect()
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
                let x = leaf_design(&g.leaves(&data, rows, cols), &leaf_columns(a));
                let lr = self.lr.as_ref().expect("lr fitted");
                lr.predict(&x).into_iter().map(adjust).collect()
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

fn leaf_design(leaves: &[Vec<usize>], columns: &[BTreeMap<usize, usize>]) -> ndarray::Array2<f64> {
    let rows = leaves.first().map_or(0, Vec::len);
    let width = columns.iter().map(BTreeMap::len).sum();
    // Column-major, like `prep::lr_design` (linfa's gradient runs over columns).
    let mut x = ndarray::Array2::<f64>::zeros(ndarray::ShapeBuilder::f((rows, width)));
    for (t, per_row) in leaves.iter().enumerate() {
        for (i, leaf) in per_row.iter().enumerate() {
            if let Some(c) = columns[t].get(leaf) {
                x[[i, *c]] = 1.0;
            }
        }
    }
    x
}

fn feature_defs(features: &FeatureList, frame_types: &BTreeMap<String, String>) -> Vec<FeatureDef> {
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

fn fit(s: &Settings, train: &Frame, defs: Vec<FeatureDef>, logit_offset: f64) -> Result<Fitted> {
    let vocabularies = prep::vocabularies(train, s.features, s.min_category_count);
    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        model_type: s.model,
        version: String::new(),
        features: defs,
        numeric_transforms: Vec::new(),
        vocabularies,
        ensemble: None,
        linear: None,
        logit_offset,
        scoring: String::new(),
    };
    let names: Vec<String> = artifact.features.iter().map(|f| f.name.clone()).collect();
    let rows = train.rows();
    match s.model {
        ModelType::Lr => {
            artifact.numeric_transforms = prep::numeric_transforms(train, s.features);
            let columns = prep::lr_columns(&artifact.numeric_transforms, &artifact.vocabularies);
            let x = prep::lr_design(
                train,
                &artifact.numeric_transforms,
                &artifact.vocabularies,
                &columns,
            );
            let lr = FittedLr::fit(x, &train.label, s.l2, s.lr_max_iter)?;
            let (intercept, w) = lr.coefficients();
            let terms: Vec<Term> = columns
                .iter()
                .zip(&w)
                .map(|(c, &weight)| match c {
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
                })
                .collect();
            let mut weights: Vec<(String, f64)> = terms.iter().map(term_label).collect();
            weights.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            artifact.linear = Some(Linear { intercept, terms });
            artifact.scoring = "p = sigmoid(intercept + sum of term weights * term inputs + logit_offset); numeric term input = (slog1p(x) - mean) / std (0 when missing), category / out_of_vocabulary term input = 1 when it matches".into();
            Ok(Fitted {
                artifact,
                lr: Some(lr),
                gbdt: None,
                lr_columns: columns,
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
                let x = leaf_design(&g.leaves(&data, rows, cols), &columns);
                tracing::info!(leaf_columns = x.ncols(), rows, "fitting LR on tree leaves");
                let fitted = FittedLr::fit(x, &train.label, s.l2, s.lr_max_iter)?;
                let (intercept, w) = fitted.coefficients();
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
                gbdt: Some(g),
                lr_columns: Vec::new(),
                weights,
            })
        }
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
fn score_frame(scorer: &Scorer, frame: &Frame) -> Vec<f64> {
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
fn negative_weight(frame: &Frame, table: &str) -> Result<f64> {
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

fn predictions_parquet(frame: &Frame, scores: &[f64]) -> Result<Vec<u8>> {
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
        Some(crate::writer::writer_properties()),
    )?;
    w.write(&batch)?;
    w.close()?;
    Ok(out)
}

pub async fn train(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let features = req
        .job
        .features
        .as_ref()
        .filter(|f| !f.numeric.is_empty() || !f.categorical.is_empty())
        .with_context(|| format!("job `{}` declares no [features]", req.job.name))?;
    let s = settings(params, features)?;
    let end = req.date;
    let output = Storage::open(req.output.clone())?;
    let set_path = output.at("training_sets").at(&format!("end={end}"));
    let set_bytes = set_path.read("manifest.json").await.with_context(|| {
        format!("no training set ending {end}: run `liverec run training_set --date {end}` first")
    })?;
    let set: TrainingSet = serde_json::from_slice(&set_bytes)
        .with_context(|| format!("{}: not a training-set manifest", set_path.loc))?;
    if set.end != end || set.train_days.is_empty() {
        bail!("{}: no training days", set_path.loc);
    }
    let validation_day = set.validation_day;

    // The validation day's samples: built here (profiles + samples) when missing, with the
    // training set's own parameters, so validation rows are defined exactly like training rows.
    let set_args: Vec<(String, String)> = set
        .params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "label_days" | "validation" | "force"))
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    let mut outputs =
        crate::builtin::ensure_label_day(req, validation_day, &set_args, false).await?;

    let (label, weight_col) = match s.sample_table.as_str() {
        // Negatives are downsampled on `click`, so that is the label whose negatives all
        // carry one weight (watch30 negatives would mix kept clicks and sampled non-clicks).
        "exposure_samples" => ("click", Some("sample_weight")),
        _ => ("label", None),
    };
    let table = output.at(&s.sample_table);
    let total_rows: u64 = set
        .days
        .iter()
        .filter(|d| set.train_days.contains(&d.dt))
        .map(|d| {
            if s.sample_table == "exposure_samples" {
                d.exposure_rows
            } else {
                d.rows
            }
        })
        .sum();
    let budget = req.engine.memory_limit();
    let cap = if s.max_train_rows > 0 {
        s.max_train_rows
    } else {
        (budget / bytes_per_row(&s)).max(1)
    };
    let rate = if total_rows > cap {
        cap as f64 / total_rows as f64
    } else {
        1.0
    };
    if rate < 1.0 {
        tracing::warn!(
            total_rows,
            cap,
            rate,
            "training rows exceed the cap: downsampling deterministically (seed {})",
            s.seed
        );
    }

    let ctx = crate::engine::new_context(&req.engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let spec = |rate: f64| ReadSpec {
        features,
        label,
        weight: weight_col,
        rate,
        seed: s.seed,
    };
    let started = Instant::now();
    let train_frame = data::read_days(&ctx, &table, &set.train_days, &spec(rate)).await?;
    let valid_frame = data::read_days(&ctx, &table, &[validation_day], &spec(1.0)).await?;
    let read_seconds = started.elapsed().as_secs_f64();
    if train_frame.positives() == 0 || train_frame.positives() == train_frame.rows() as u64 {
        bail!(
            "training rows need both labels: {} rows, {} positive",
            train_frame.rows(),
            train_frame.positives()
        );
    }
    if valid_frame.rows() == 0 {
        bail!(
            "validation day {validation_day} has no {} rows",
            s.sample_table
        );
    }
    let w_neg = negative_weight(&train_frame, &s.sample_table)?;
    // Trained unweighted on the kept rows, then recalibrated: logit q = logit p - ln w.
    let logit_offset = if w_neg == 1.0 { 0.0 } else { -w_neg.ln() };
    let types: BTreeMap<String, String> = {
        let df = ctx
            .read_parquet(
                table.at(&partition_name(validation_day)).loc.dir_url(),
                Default::default(),
            )
            .await?;
        df.schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect()
    };
    tracing::info!(
        model = s.model.name(),
        train_rows = train_frame.rows(),
        validation_rows = valid_frame.rows(),
        "training"
    );
    let started = Instant::now();
    let mut fitted = fit(
        &s,
        &train_frame,
        feature_defs(features, &types),
        logit_offset,
    )?;
    let train_seconds = started.elapsed().as_secs_f64();

    let run_id = new_run_id();
    let version = format!("{end}-{run_id}");
    fitted.artifact.version = version.clone();
    let train_pred = fitted.predict(&train_frame);
    let valid_pred = fitted.predict(&valid_frame);
    let train_metrics = metrics::evaluate(&train_pred, &train_frame.label, &train_frame.weight);
    let valid_metrics = metrics::evaluate(&valid_pred, &valid_frame.label, &valid_frame.weight);
    let curves = metrics::curves(
        &valid_pred,
        &valid_frame.label,
        &valid_frame.weight,
        200,
        10,
    );

    // AUC on every exposure of the validation day (label watch30, weighted negatives).
    let scorer = Scorer::new(fitted.artifact.clone())?;
    let exposure_metrics: Option<Metrics> = if s.sample_table == "samples"
        && read_manifest(&output.at("exposure_samples"), validation_day)
            .await?
            .is_some()
    {
        let f = data::read_days(
            &ctx,
            &output.at("exposure_samples"),
            &[validation_day],
            &ReadSpec {
                features,
                label: "watch30",
                weight: Some("sample_weight"),
                rate: 1.0,
                seed: s.seed,
            },
        )
        .await?;
        let p = score_frame(&scorer, &f);
        Some(metrics::evaluate(&p, &f.label, &f.weight))
    } else {
        None
    };

    // The gate.
    let model_dir = output.at("models").at(s.model.name());
    let seen = publish::latest(&model_dir).await?;
    let previous = seen.version.clone();
    let previous_auc = match &previous {
        Some(v) => {
            let bytes = model_dir.at(v).read(publish::METRICS).await?;
            let m: serde_json::Value = serde_json::from_slice(&bytes)?;
            m["validation"]["auc"].as_f64()
        }
        None => None,
    };
    let auc = valid_metrics.auc;
    let mut reasons = Vec::new();
    if auc.is_nan() || auc < s.min_auc {
        reasons.push(format!("AUC {auc:.4} < min_auc {}", s.min_auc));
    }
    if let Some(prev) = previous_auc
        && auc < prev - s.max_auc_drop
    {
        reasons.push(format!(
            "AUC {auc:.4} is more than max_auc_drop {} below LATEST {} ({prev:.4})",
            s.max_auc_drop,
            previous.as_deref().unwrap_or("")
        ));
    }
    let passed = reasons.is_empty();
    let gate_text = if passed {
        format!(
            "passed: AUC {auc:.4} ≥ min_auc {}{}",
            s.min_auc,
            previous_auc.map_or(String::new(), |p| format!(
                ", within {} of LATEST ({p:.4})",
                s.max_auc_drop
            ))
        )
    } else {
        format!("failed: {}", reasons.join("; "))
    };
    let gate = json!({
        "passed": passed,
        "reason": gate_text,
        "min_auc": s.min_auc,
        "max_auc_drop": s.max_auc_drop,
        "previous_version": previous,
        "previous_auc": previous_auc,
    });

    let model_json = serde_json::to_vec_pretty(&fitted.artifact)?;
    let metrics_json = json!({
        "model": s.model.name(),
        "version": version,
        "validation_day": validation_day,
        "train_days": set.train_days,
        "validation": valid_metrics,
        "train": train_metrics,
        "exposure_validation": exposure_metrics,
        "importance": fitted.weights.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "recalibration": {
            "method": "trained unweighted on the kept rows; log-odds shifted by logit_offset = -ln(negative weight)",
            "negative_weight": w_neg,
            "logit_offset": logit_offset,
        },
        "curves": curves,
        "train_sample_rate": rate,
        "read_seconds": read_seconds,
        "train_seconds": train_seconds,
        "gate": gate,
    });
    let mut metric_rows = vec![
        ("validation".to_string(), &valid_metrics),
        ("train".to_string(), &train_metrics),
    ];
    if let Some(m) = &exposure_metrics {
        // A model of "long watch given a watch" ranks exposures but is not calibrated on them.
        metric_rows.push((
            "all exposures of the validation day (watch30; ranking only)".into(),
            m,
        ));
    }
    let html = report::render(&ReportInput {
        title: format!("liverec {} model {version}", s.model.name()),
        facts: vec![
            ("model".into(), s.model.name().into()),
            ("version".into(), version.clone()),
            (
                "training days".into(),
                format!(
                    "{} … {} ({} days)",
                    set.train_days[0],
                    set.train_days[set.train_days.len() - 1],
                    set.train_days.len()
                ),
            ),
            ("validation day".into(), validation_day.to_string()),
            ("sample table".into(), s.sample_table.clone()),
            (
                "training rows used".into(),
                format!("{} (sample rate {rate:.4})", train_frame.rows()),
            ),
            ("training time".into(), format!("{train_seconds:.1} s")),
            ("logit offset".into(), format!("{logit_offset:.6}")),
        ],
        metrics: metric_rows,
        curves: &curves,
        gate: gate_text.clone(),
        weights_heading: match s.model {
            ModelType::Lr => "Coefficients (standardized inputs), by |weight|".into(),
            _ => "Feature importance (share of total split gain)".into(),
        },
        weights: fitted.weights.iter().take(40).cloned().collect(),
    })?;
    let predictions = predictions_parquet(&valid_frame, &valid_pred)?;
    let inputs: Vec<serde_json::Value> = {
        let mut v = Vec::new();
        for day in set.train_days.iter().chain([&validation_day]) {
            let m = read_manifest(&table, *day).await?;
            v.push(json!({
                "table": s.sample_table,
                "dt": day,
                "run_id": m.as_ref().map(|m| m.run_id.clone()),
                "rows": m.as_ref().map(|m| m.rows),
            }));
        }
        v
    };
    let manifest = ModelManifest {
        model_type: s.model.name().into(),
        version: version.clone(),
        training_end: end,
        train_days: set.train_days.clone(),
        validation_day,
        train_rows: train_frame.rows() as u64,
        train_positives: train_frame.positives(),
        validation_rows: valid_frame.rows() as u64,
        validation_positives: valid_frame.positives(),
        train_sample_rate: rate,
        params: crate::params::to_json(params),
        inputs,
        gate: gate.clone(),
        liverec_version: LIVEREC_VERSION.into(),
        run_id: run_id.clone(),
        created_at: Utc::now(),
        files: BTreeMap::new(),
    };
    let folder = publish::commit_version(
        &model_dir,
        &version,
        &[
            (publish::MODEL, model_json),
            (publish::METRICS, serde_json::to_vec_pretty(&metrics_json)?),
            ("report.html", html.into_bytes()),
            ("validation_predictions.parquet", predictions),
        ],
        manifest,
    )
    .await?;
    tracing::info!(
        auc,
        log_loss = valid_metrics.log_loss,
        "model written to {folder}"
    );
    if !passed {
        return Err(GateFailed(format!(
            "gate {gate_text}; version kept at {folder} for inspection, LATEST unchanged"
        ))
        .into());
    }
    publish::set_latest(&model_dir, &version, &seen).await?;
    outputs.push(OutputReport {
        table: format!("models/{}", s.model.name()),
        location: folder.to_string(),
        rows: train_frame.rows() as u64,
        files: 5,
    });
    let mut printed = format!(
        "{} {version}: validation {validation_day} AUC {:.4}  log loss {:.4}  NE {:.4}  calibration {:.3}  (train AUC {:.4}, {} rows)",
        s.model.name(),
        valid_metrics.auc,
        valid_metrics.log_loss,
        valid_metrics.normalized_entropy,
        valid_metrics.calibration,
        train_metrics.auc,
        train_frame.rows()
    );
    if let Some(m) = &exposure_metrics {
        printed.push_str(&format!(
            "\n  exposures of {validation_day} (watch30): AUC {:.4}",
            m.auc
        ));
    }
    printed.push_str(&format!("\n  gate {gate_text}; LATEST -> {version}"));
    Ok(RunReport {
        job: req.job.name.clone(),
        date: end,
        run_id,
        outputs,
        inputs: Vec::new(),
        checks: BTreeMap::new(),
        printed: vec![printed],
    })
}
