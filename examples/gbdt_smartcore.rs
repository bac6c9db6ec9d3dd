//! Measurement behind the GBDT library choice (docs/benchmarks.md): Newton boosting for log
//! loss on smartcore 0.7's weighted regression trees (exact, sort-based splits) against
//! forust-ml's histogram GBDT, on the same training set and validation day.
//!
//! cargo run --release --example gbdt_smartcore -- OUTPUT_ROOT END_DATE [TREES] [DEPTH]
//!
//! Each round fits a tree to the Newton target −g/h with weights h (g = p − y,
//! h = p(1 − p)); smartcore's weighted-mean leaves then equal the Newton step Σ−g / Σh.
//! smartcore has no missing-value handling, so NaN inputs become −1 (no feature is negative).

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use liverec::engine::{EngineOptions, new_context};
use liverec::job::JobSpec;
use liverec::model::data::{ReadSpec, read_days};
use liverec::model::gbdt::{FittedGbdt, GbdtParams};
use liverec::model::metrics::auc;
use liverec::model::prep;
use liverec::storage::{Location, Storage};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let root = args.get(1).context("OUTPUT_ROOT")?;
    let end: NaiveDate = args.get(2).context("END_DATE")?.parse()?;
    let trees: usize = args.get(3).map_or(Ok(100), |s| s.parse())?;
    let depth: usize = args.get(4).map_or(Ok(6), |s| s.parse())?;

    let output = Storage::open(Location::parse(root)?)?;
    let set: serde_json::Value = serde_json::from_slice(
        &output
            .at("training_sets")
            .at(&format!("end={end}"))
            .read("manifest.json")
            .await?,
    )?;
    let days = |v: &serde_json::Value| -> Vec<NaiveDate> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str()?.parse().ok())
            .collect()
    };
    let train_days = days(&set["train_days"]);
    let valid_day: NaiveDate = set["validation_day"]
        .as_str()
        .context("validation_day")?
        .parse()?;
    let job = JobSpec::load("train")?;
    let features = job.features.context("features")?;
    let ctx = new_context(&EngineOptions::default()).await?;
    let spec = ReadSpec {
        features: &features,
        label: "label",
        weight: None,
        rate: 1.0,
        seed: 1,
    };
    let table = output.at("samples");
    let train = read_days(&ctx, &table, &train_days, &spec).await?;
    let valid = read_days(&ctx, &table, &[valid_day], &spec).await?;
    let vocabs = prep::vocabularies(&train, &features, 5);
    let (xt, xv) = (
        prep::tree_input(&train, &vocabs),
        prep::tree_input(&valid, &vocabs),
    );
    let cols = features.numeric.len() + features.categorical.len();
    let (nt, nv) = (train.rows(), valid.rows());
    println!("rows: train {nt}, validation {nv}; {cols} features; {trees} trees of depth {depth}");

    // forust-ml
    let started = Instant::now();
    let params = GbdtParams {
        trees,
        max_depth: depth,
        max_leaves: 1 << depth,
        learning_rate: 0.1,
        subsample: 1.0,
        min_child_weight: 1.0,
        nbins: 256,
        seed: 1,
    };
    let g = FittedGbdt::fit(&xt, nt, cols, &train.label, &vec![1.0; nt], &params)?;
    let forust_s = started.elapsed().as_secs_f64();
    let pv: Vec<f64> = g.predict_raw(&xv, nv, cols);
    let forust_auc = auc(&pv, &valid.label, &vec![1.0; nv]);
    println!("forust-ml histogram GBDT: AUC {forust_auc:.4}, {forust_s:.1} s");

    // smartcore Newton boosting
    let fill = |v: &[f64]| {
        v.iter()
            .map(|x| if x.is_nan() { -1.0 } else { *x })
            .collect::<Vec<_>>()
    };
    let mt = DenseMatrix::new(nt, cols, fill(&xt), true)?;
    let mv = DenseMatrix::new(nv, cols, fill(&xv), true)?;
    let base = {
        let r = train.label.iter().sum::<f64>() / nt as f64;
        (r / (1.0 - r)).ln()
    };
    let (mut ft, mut fv) = (vec![base; nt], vec![base; nv]);
    let started = Instant::now();
    for round in 0..trees {
        let (mut target, mut hess) = (Vec::with_capacity(nt), Vec::with_capacity(nt));
        for (f, y) in ft.iter().zip(&train.label) {
            let p = sigmoid(*f);
            let h = (p * (1.0 - p)).max(1e-6);
            target.push((y - p) / h);
            hess.push(h);
        }
        let tree = DecisionTreeRegressor::fit_with_weights(
            &mt,
            &target,
            &hess,
            DecisionTreeRegressorParameters::default()
                .with_max_depth(depth as u16)
                .with_min_samples_leaf(20),
        )?;
        let (dt, dv): (Vec<f64>, Vec<f64>) = (tree.predict(&mt)?, tree.predict(&mv)?);
        for (f, d) in ft.iter_mut().zip(&dt) {
            *f += 0.1 * d;
        }
        for (f, d) in fv.iter_mut().zip(&dv) {
            *f += 0.1 * d;
        }
        if round == 0 || (round + 1) % 25 == 0 {
            println!(
                "  smartcore round {}: {:.1} s, validation AUC {:.4}",
                round + 1,
                started.elapsed().as_secs_f64(),
                auc(&fv, &valid.label, &vec![1.0; nv])
            );
        }
    }
    let smart_s = started.elapsed().as_secs_f64();
    let smart_auc = auc(&fv, &valid.label, &vec![1.0; nv]);
    println!("smartcore Newton boosting: AUC {smart_auc:.4}, {smart_s:.1} s");
    Ok(())
}
