//! The `als` job: implicit-feedback matrix factorization of day D's likes, as a recall
//! channel and as vectors for serving. Named steps:
//! 1. `build_likes`: the SQL sub-job `als_likes` (item-CF's likes over the window, from
//!    quality-cleaned watches) writes `als_likes/dt=D`;
//! 2. `read_likes`: those rows into a users × anchors confidence matrix (ids sorted);
//! 3. `als::fit` off the async runtime;
//! 4. `top_candidates`: each user's best anchors by inner product;
//! 5. `write_outputs`: `user_factors`, `anchor_factors`, `als_candidates`, each committed
//!    atomically with its manifest (parameters, the likes partition read, the loss per
//!    iteration in `checks`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{NaiveDate, Utc};
use datafusion::prelude::ParquetReadOptions;
use rayon::prelude::*;
use serde::Deserialize;

use crate::doc::partition::{InputEntry, PartitionManifest, schema_entries};
use crate::engine;
use crate::job::JobSpec;
use crate::layout;
use crate::model::als::{self, AlsModel, AlsParams, Confidences, Solver};
use crate::params::{self, Params};
use crate::runner::{self, OutputReport, RunReport, RunRequest};
use crate::storage::{Storage, committed};
use crate::version::LIVEREC_VERSION;
use crate::writer::{StagedPartition, read_manifest};

const LIKES: &str = "als_likes";

#[derive(Deserialize)]
struct Settings {
    window_days: u32,
    like_threshold_s: f64,
    confidence: String,
    alpha: f64,
    factors: usize,
    regularization: f64,
    iterations: usize,
    cg_steps: usize,
    seed: i64,
    candidates_per_user: usize,
    exclude_liked: bool,
}

impl Settings {
    fn als(&self) -> AlsParams {
        AlsParams {
            factors: self.factors,
            regularization: self.regularization as f32,
            iterations: self.iterations,
            cg_steps: self.cg_steps,
            solver: Solver::ConjugateGradient,
            seed: self.seed as u64,
        }
    }

    /// A like's confidence from its watch seconds.
    fn confidence(&self, watch_s: f64) -> f32 {
        let r = if self.confidence == "linear" {
            watch_s
        } else {
            watch_s.ln_1p()
        };
        (1.0 + self.alpha * r) as f32
    }
}

/// The likes as a matrix, with the ids of its rows and columns.
struct Likes {
    users: Vec<i64>,
    anchors: Vec<i64>,
    matrix: Confidences,
}

pub async fn run(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let settings: Settings = params::settings(params)?;
    settings.als().check()?;
    let output = Storage::open(req.output.clone())?;
    let mut outputs = build_likes(req, &settings).await?;
    let likes = read_likes(req, &output, &settings).await?;
    tracing::info!(
        users = likes.users.len(),
        anchors = likes.anchors.len(),
        likes = likes.matrix.nnz(),
        "fitting ALS"
    );
    let likes = Arc::new(likes);
    let (model, candidates) = tokio::task::spawn_blocking({
        let (likes, p) = (likes.clone(), settings.als());
        let (n, exclude) = (settings.candidates_per_user, settings.exclude_liked);
        move || -> Result<_> {
            let model = als::fit(&likes.matrix, &p)?;
            let candidates = top_candidates(&model, &likes, n, exclude);
            Ok((model, candidates))
        }
    })
    .await??;
    let run_id = committed::new_run_id();
    outputs
        .extend(write_outputs(req, &output, params, &run_id, &likes, &model, &candidates).await?);
    Ok(RunReport {
        job: req.job.name.clone(),
        date: req.date,
        run_id,
        outputs,
        inputs: Vec::new(),
        checks: BTreeMap::from([
            (
                "iterations".to_string(),
                serde_json::json!(model.loss.len()),
            ),
            (
                "final_loss".to_string(),
                serde_json::json!(model.loss.last()),
            ),
        ]),
        printed: Vec::new(),
    })
}

/// Step 1: `als_likes/dt=D` for this window and threshold.
async fn build_likes(req: &RunRequest, s: &Settings) -> Result<Vec<OutputReport>> {
    let report = runner::run(&RunRequest {
        job: JobSpec::load(LIKES)?,
        date: req.date,
        input: req.input.clone(),
        output: req.output.clone(),
        overrides: vec![
            ("window_days".into(), s.window_days.to_string()),
            ("like_threshold_s".into(), s.like_threshold_s.to_string()),
        ],
        engine: req.engine.clone(),
    })
    .await
    .context("building the likes (job als_likes)")?;
    Ok(report.outputs)
}

/// Step 2: the committed likes partition as a confidence matrix.
async fn read_likes(req: &RunRequest, output: &Storage, s: &Settings) -> Result<Likes> {
    let ctx = engine::new_context(&req.engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let dir = output.at(LIKES).at(&layout::partition(req.date));
    let source = dir.loc.to_string();
    let batches = ctx
        .read_parquet(dir.loc.dir_url(), ParquetReadOptions::default())
        .await
        .with_context(|| format!("reading {source}"))?
        .select_columns(&["user_id", "anchor_id", "watch_s"])?
        .collect()
        .await?;
    let mut rows: Vec<(i64, i64, f64)> = Vec::new();
    for b in &batches {
        let column = |name: &str| b.column_by_name(name).expect("selected");
        let ids = |name: &str| -> Result<Int64Array> {
            arrow::compute::cast(column(name), &DataType::Int64)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .with_context(|| format!("{source}: `{name}` is not an integer column"))
        };
        let (u, a) = (ids("user_id")?, ids("anchor_id")?);
        let w = arrow::compute::cast(column("watch_s"), &DataType::Float64)?;
        let w = w.as_any().downcast_ref::<Float64Array>().expect("cast");
        for i in 0..b.num_rows() {
            if u.is_null(i) || a.is_null(i) || w.is_null(i) || !w.value(i).is_finite() {
                bail!("{source}: row {i} has a missing id or a non-finite watch_s");
            }
            rows.push((u.value(i), a.value(i), w.value(i)));
        }
    }
    if rows.is_empty() {
        bail!(
            "{source}: no likes in the {} days up to {} (an empty window?)",
            s.window_days,
            req.date
        );
    }
    let mut users: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut anchors: Vec<i64> = rows.iter().map(|r| r.1).collect();
    for ids in [&mut users, &mut anchors] {
        ids.sort_unstable();
        ids.dedup();
    }
    let index = |ids: &[i64], id: i64| ids.binary_search(&id).expect("listed") as u32;
    let triples = rows
        .iter()
        .map(|&(u, a, w)| (index(&users, u), index(&anchors, a), s.confidence(w)))
        .collect();
    let matrix = Confidences::from_triples(users.len(), anchors.len(), triples)
        .with_context(|| format!("{source}: the likes"))?;
    Ok(Likes {
        users,
        anchors,
        matrix,
    })
}

/// Step 4: per user, the anchors with the largest inner product (in float32, summed in
/// factor order), ties by anchor id, liked anchors left out when `exclude_liked`.
/// Returns (user index, anchor index, score) in user order, then rank order.
fn top_candidates(
    model: &AlsModel,
    likes: &Likes,
    per_user: usize,
    exclude_liked: bool,
) -> Vec<Vec<(u32, f32)>> {
    (0..likes.users.len())
        .into_par_iter()
        .map(|u| {
            let x = model.user(u);
            let liked: Vec<usize> = likes.matrix.columns(u).collect();
            let mut scored: Vec<(u32, f32)> = (0..likes.anchors.len())
                .filter(|a| !exclude_liked || liked.binary_search(a).is_err())
                .map(|a| (a as u32, als::dot(x, model.item(a))))
                .collect();
            let order = |p: &(u32, f32), q: &(u32, f32)| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0));
            if scored.len() > per_user {
                scored.select_nth_unstable_by(per_user - 1, order);
                scored.truncate(per_user);
            }
            scored.sort_unstable_by(order);
            // Kept for every user until written: without this each list would keep the
            // capacity of all anchors (2.6 GB of the 3.4 GB peak on medium data).
            scored.shrink_to_fit();
            scored
        })
        .collect()
}

fn vectors(ids: &[i64], values: &[f32], k: usize, id_name: &str) -> Result<RecordBatch> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let list = FixedSizeListArray::try_new(
        item.clone(),
        k as i32,
        Arc::new(Float32Array::from(values.to_vec())),
        None,
    )?;
    let norms: Float32Array = values
        .chunks_exact(k)
        .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect();
    let schema = Schema::new(vec![
        Field::new(id_name, DataType::Int64, false),
        Field::new("factors", DataType::FixedSizeList(item, k as i32), false),
        Field::new("norm", DataType::Float32, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(list),
            Arc::new(norms),
        ],
    )?)
}

fn candidates_batch(likes: &Likes, top: &[Vec<(u32, f32)>]) -> Result<RecordBatch> {
    let (mut users, mut anchors, mut scores, mut ranks) = (vec![], vec![], vec![], vec![]);
    for (u, list) in top.iter().enumerate() {
        for (r, (a, score)) in list.iter().enumerate() {
            users.push(likes.users[u]);
            anchors.push(likes.anchors[*a as usize]);
            scores.push(*score as f64);
            ranks.push(r as i32 + 1);
        }
    }
    let n = users.len();
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("anchor_id", DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("rank", DataType::Int32, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(users)) as ArrayRef,
            Arc::new(Int64Array::from(anchors)),
            Arc::new(StringArray::from(vec!["als"; n])),
            Arc::new(Float64Array::from(scores)),
            Arc::new(Int32Array::from(ranks)),
        ],
    )?)
}

/// The training loss per iteration, recorded with every output.
fn loss_checks(model: &AlsModel) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([(
        "loss_per_iteration".to_string(),
        serde_json::json!(model.loss),
    )])
}

/// Step 5: the three tables, each committed whole.
async fn write_outputs(
    req: &RunRequest,
    output: &Storage,
    params: &Params,
    run_id: &str,
    likes: &Likes,
    model: &AlsModel,
    top: &[Vec<(u32, f32)>],
) -> Result<Vec<OutputReport>> {
    let k = model.factors;
    let likes_table = output.at(LIKES);
    let read = likes_input(&likes_table, req.date).await?;
    let mut reports = Vec::new();
    for (table, batch) in [
        (
            "user_factors",
            vectors(&likes.users, &model.users, k, "user_id")?,
        ),
        (
            "anchor_factors",
            vectors(&likes.anchors, &model.items, k, "anchor_id")?,
        ),
        ("als_candidates", candidates_batch(likes, top)?),
    ] {
        let mut part = StagedPartition::begin(output, table, req.date, run_id).await?;
        part.write_batches(
            &layout::data_file(0),
            batch.schema(),
            std::slice::from_ref(&batch),
        )
        .await?;
        let (rows, files) = (part.rows(), 1);
        part.commit(PartitionManifest {
            table: table.into(),
            dt: req.date,
            job: req.job.name.clone(),
            run_id: run_id.into(),
            liverec_version: LIVEREC_VERSION.into(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(&batch.schema()),
            params: params::to_json(params),
            inputs: vec![read.clone()],
            checks: loss_checks(model),
            replaced: Vec::new(),
        })
        .await?;
        reports.push(OutputReport {
            table: table.into(),
            location: output
                .at(table)
                .at(&layout::partition(req.date))
                .loc
                .to_string(),
            rows,
            files,
        });
    }
    Ok(reports)
}

/// The likes partition as this run's input (lineage).
async fn likes_input(table: &Storage, day: NaiveDate) -> Result<InputEntry> {
    let manifest = read_manifest(table, day).await?.with_context(|| {
        format!(
            "{}: the likes partition of {day} is not committed",
            table.loc
        )
    })?;
    Ok(InputEntry {
        table: LIKES.into(),
        location: table.loc.to_string(),
        window: [day, day],
        partitions: vec![day],
        missing: Vec::new(),
        empty: Vec::new(),
        files: manifest.files.len(),
        quality: None,
    })
}
