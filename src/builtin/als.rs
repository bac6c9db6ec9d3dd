//! The `als` and `als_items` jobs: implicit-feedback matrix factorization of day D's likes,
//! as a recall channel and as vectors for serving. Named steps:
//! 1. `build_likes`: the SQL sub-job (`als_likes`: item-CF's likes from quality-cleaned
//!    watches; `als_item_likes`: the likes of generic item events) writes its likes table;
//! 2. `read_likes`: those rows into a users × items confidence matrix (ids sorted);
//! 3. `als::fit` off the async runtime;
//! 4. `top_candidates`: each user's best items by inner product;
//! 5. `write_factors`: the user and item factor tables, each committed atomically with its
//!    manifest (parameters, the likes partition read, the loss per iteration in `checks`);
//! 6. `merge_channel`: the candidates partition of D (written by `itemcf` / `itemcf_items`)
//!    committed again with its `als` rows replaced by this run's.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{NaiveDate, Utc};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::{ParquetReadOptions, col};
use rayon::prelude::*;
use serde::Deserialize;

use crate::doc::partition::{InputEntry, PartitionManifest, schema_entries};
use crate::engine::{self, EngineOptions};
use crate::job::JobSpec;
use crate::layout;
use crate::model::als::{self, AlsModel, AlsParams, Confidences, Solver};
use crate::params::{self, Params};
use crate::query;
use crate::runner::{self, OutputReport, RunReport, RunRequest};
use crate::storage::{self, Storage, committed};
use crate::version::LIVEREC_VERSION;
use crate::writer::{StagedPartition, read_manifest};

/// What differs between the platform's `als` and the generic `als_items`.
pub struct Flavor {
    /// The SQL sub-job writing the likes (a table of the same name).
    likes_job: &'static str,
    /// The likes' strength column (confidence input).
    strength: &'static str,
    /// The item id column in the item factor table and the candidates.
    item_id: &'static str,
    user_factors: &'static str,
    item_factors: &'static str,
    /// The candidates table the `als` channel joins, and the job that writes it first.
    candidates: &'static str,
    candidates_job: &'static str,
}

/// The candidates partition's rows of the other channels, in their order.
const OTHER_CHANNELS_SQL: &str = "als/other_channels.sql";

pub const PLATFORM: Flavor = Flavor {
    likes_job: "als_likes",
    strength: "watch_s",
    item_id: "anchor_id",
    user_factors: "user_factors",
    item_factors: "anchor_factors",
    candidates: "candidates",
    candidates_job: "itemcf",
};

pub const ITEMS: Flavor = Flavor {
    likes_job: "als_item_likes",
    strength: "weight",
    item_id: "item_id",
    user_factors: "item_user_factors",
    item_factors: "item_factors",
    candidates: "item_candidates",
    candidates_job: "itemcf_items",
};

/// The source name of the channel.
const CHANNEL: &str = "als";

#[derive(Deserialize)]
struct Settings {
    window_days: u32,
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

    /// A like's confidence from its strength (watch seconds, or summed event weights).
    fn confidence(&self, strength: f64) -> f32 {
        let r = if self.confidence == "linear" {
            strength
        } else {
            strength.ln_1p()
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

pub async fn run(req: &RunRequest, params: &Params, flavor: &Flavor) -> Result<RunReport> {
    let settings: Settings = params::settings(params)?;
    settings.als().check()?;
    let output = Storage::open(req.output.clone())?;
    // Before the fit: a missing candidates partition is known in a second, not after it.
    let channels = output.at(flavor.candidates);
    read_manifest(&channels, req.date).await?.with_context(|| {
        format!(
            "{}: no committed partition of {}; the als channel joins the candidates of `{}`: run it for that day first",
            channels.loc,
            req.date,
            flavor.candidates_job
        )
    })?;
    let mut outputs = build_likes(req, params, flavor).await?;
    let likes = read_likes(req, &output, &settings, flavor).await?;
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
    let commit = Commit {
        req,
        output: &output,
        params,
        run_id: &run_id,
        flavor,
        likes: committed_input(&output.at(flavor.likes_job), flavor.likes_job, req.date).await?,
        checks: loss_checks(&model),
    };
    outputs.extend(write_factors(&commit, &likes, &model).await?);
    outputs.push(
        merge_channel(
            &commit,
            candidates_batch(&likes, &candidates, flavor.item_id)?,
        )
        .await?,
    );
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

/// Step 1: the likes table of D, from the sub-job with this job's values of the parameters
/// it declares (window, thresholds, caps).
async fn build_likes(
    req: &RunRequest,
    params: &Params,
    flavor: &Flavor,
) -> Result<Vec<OutputReport>> {
    let job = JobSpec::load(flavor.likes_job)?;
    let overrides = job.pass_through(params);
    let report = runner::run(&RunRequest {
        job,
        date: req.date,
        input: req.input.clone(),
        output: req.output.clone(),
        overrides,
        engine: req.engine.clone(),
    })
    .await
    .with_context(|| format!("building the likes (job {})", flavor.likes_job))?;
    Ok(report.outputs)
}

/// Step 2: the committed likes partition as a confidence matrix.
async fn read_likes(
    req: &RunRequest,
    output: &Storage,
    s: &Settings,
    flavor: &Flavor,
) -> Result<Likes> {
    let ctx = engine::new_context(&req.engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let dir = output.at(flavor.likes_job).at(&layout::partition(req.date));
    let source = dir.loc.to_string();
    let batches = ctx
        .read_parquet(dir.loc.dir_url(), ParquetReadOptions::default())
        .await
        .with_context(|| format!("reading {source}"))?
        .select_columns(&["user_id", "anchor_id", flavor.strength])?
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
        let w = arrow::compute::cast(column(flavor.strength), &DataType::Float64)?;
        let w = w.as_any().downcast_ref::<Float64Array>().expect("cast");
        for i in 0..b.num_rows() {
            if u.is_null(i) || a.is_null(i) || w.is_null(i) || !w.value(i).is_finite() {
                bail!(
                    "{source}: row {i} has a missing id or a non-finite {}",
                    flavor.strength
                );
            }
            rows.push((u.value(i), a.value(i), w.value(i)));
        }
    }
    if rows.is_empty() {
        bail!(
            "{source}: no likes in the {} days up to {} (an empty window, or a like threshold nobody reaches?)",
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

/// The `als` channel as rows `(user_id, <item id>, source, score, rank)`.
fn candidates_batch(likes: &Likes, top: &[Vec<(u32, f32)>], item_id: &str) -> Result<RecordBatch> {
    let (mut users, mut items, mut scores, mut ranks) = (vec![], vec![], vec![], vec![]);
    for (u, list) in top.iter().enumerate() {
        for (r, (a, score)) in list.iter().enumerate() {
            users.push(likes.users[u]);
            items.push(likes.anchors[*a as usize]);
            scores.push(*score as f64);
            ranks.push(r as i64 + 1);
        }
    }
    let n = users.len();
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new(item_id, DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("rank", DataType::Int64, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(users)) as ArrayRef,
            Arc::new(Int64Array::from(items)),
            Arc::new(StringArray::from(vec![CHANNEL; n])),
            Arc::new(Float64Array::from(scores)),
            Arc::new(Int64Array::from(ranks)),
        ],
    )?)
}

/// `batch` with the column types of `schema` (by name), so that the channel's rows join the
/// candidates table's exactly.
fn conform(batch: &RecordBatch, schema: &Schema, source: &str) -> Result<RecordBatch> {
    let mut columns = Vec::new();
    let mut fields = Vec::new();
    for field in schema.fields() {
        let column = batch.column_by_name(field.name()).with_context(|| {
            format!(
                "{source}: column `{}` is not one the als channel has",
                field.name()
            )
        })?;
        columns.push(arrow::compute::cast(column, field.data_type())?);
        fields.push(Field::new(field.name(), field.data_type().clone(), true));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The training loss per iteration, recorded with every output.
fn loss_checks(model: &AlsModel) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([(
        "loss_per_iteration".to_string(),
        serde_json::json!(model.loss),
    )])
}

/// What every partition this run commits shares.
struct Commit<'a> {
    req: &'a RunRequest,
    output: &'a Storage,
    params: &'a Params,
    run_id: &'a str,
    flavor: &'a Flavor,
    /// The likes partition read (lineage).
    likes: InputEntry,
    checks: BTreeMap<String, serde_json::Value>,
}

impl Commit<'_> {
    async fn begin(&self, table: &str) -> Result<StagedPartition> {
        StagedPartition::begin(self.output, table, self.req.date, self.run_id).await
    }

    /// Commits a staged `table/dt=D` whole, with `inputs` as its lineage.
    async fn commit(
        &self,
        part: StagedPartition,
        table: &str,
        schema: &Schema,
        inputs: Vec<InputEntry>,
    ) -> Result<OutputReport> {
        let req = self.req;
        let (rows, files) = (part.rows(), part.staged_file_urls().len());
        part.commit(PartitionManifest {
            table: table.into(),
            dt: req.date,
            job: req.job.name.clone(),
            run_id: self.run_id.into(),
            liverec_version: LIVEREC_VERSION.into(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(schema),
            params: params::to_json(self.params),
            inputs,
            checks: self.checks.clone(),
            replaced: Vec::new(),
        })
        .await?;
        Ok(OutputReport {
            table: table.into(),
            location: self
                .output
                .at(table)
                .at(&layout::partition(req.date))
                .loc
                .to_string(),
            rows,
            files,
        })
    }
}

/// Step 5: the user and item factor tables, each committed whole.
async fn write_factors(
    c: &Commit<'_>,
    likes: &Likes,
    model: &AlsModel,
) -> Result<Vec<OutputReport>> {
    let k = model.factors;
    let mut reports = Vec::new();
    for (table, batch) in [
        (
            c.flavor.user_factors,
            vectors(&likes.users, &model.users, k, "user_id")?,
        ),
        (
            c.flavor.item_factors,
            vectors(&likes.anchors, &model.items, k, c.flavor.item_id)?,
        ),
    ] {
        let mut part = c.begin(table).await?;
        let schema = batch.schema();
        part.write_batches(&layout::data_file(0), schema.clone(), &[batch])
            .await?;
        reports.push(
            c.commit(part, table, &schema, vec![c.likes.clone()])
                .await?,
        );
    }
    Ok(reports)
}

/// Step 6: the candidates partition of D again: the other channels as they were (in their
/// order; `als` rows of an earlier run left out) and this run's `als` rows (sorted by user and
/// rank) as a second file, both written at once; committed whole, so a reader sees either
/// the old partition or the new one. Streams: the partition never sits in memory. Runs in
/// this process (the channel's rows are here already).
async fn merge_channel(c: &Commit<'_>, als: RecordBatch) -> Result<OutputReport> {
    let (req, flavor) = (c.req, c.flavor);
    let table = c.output.at(flavor.candidates);
    // Read first: a partition gone since the check before the fit is an error here.
    let read = committed_input(&table, flavor.candidates, req.date).await?;
    let local = EngineOptions {
        cluster: None,
        ..req.engine.clone()
    };
    let ctx = engine::new_context(&local).await?;
    ctx.register_object_store(&c.output.loc.store_url(), c.output.store.clone());
    let dir = table.at(&layout::partition(req.date));
    let source = dir.loc.to_string();
    // The candidate jobs write each file sorted so: the query merges files without sorting.
    let order = ["user_id", "source", "rank"]
        .map(|name| col(name).sort(true, false))
        .to_vec();
    let existing = ctx
        .read_parquet(
            dir.loc.dir_url(),
            ParquetReadOptions::default().file_sort_order(vec![order]),
        )
        .await
        .with_context(|| format!("reading {source}"))?;
    let schema = Arc::new(existing.schema().as_arrow().clone());
    ctx.register_table("channels", existing.into_view())?;
    let others = query::query(&ctx, OTHER_CHANNELS_SQL, &Default::default()).await?;
    let als = conform(&als, &schema, &source)?;
    let streams = vec![
        others.execute_stream().await?,
        Box::pin(MemoryStream::try_new(vec![als], schema.clone(), None)?) as _,
    ];
    let mut part = c.begin(flavor.candidates).await?;
    part.write_streams(schema.clone(), streams)
        .await
        .with_context(|| format!("merging the als channel into {source}"))?;
    c.commit(
        part,
        flavor.candidates,
        &schema,
        vec![c.likes.clone(), read],
    )
    .await
}

/// A committed partition this run reads (the likes, the candidates), as its lineage.
async fn committed_input(table: &Storage, name: &str, day: NaiveDate) -> Result<InputEntry> {
    let manifest = read_manifest(table, day)
        .await?
        .with_context(|| format!("{}: the partition of {day} is not committed", table.loc))?;
    let files = table
        .at(&layout::partition(day))
        .list_parquet_files()
        .await?;
    Ok(InputEntry {
        table: name.into(),
        location: table.loc.to_string(),
        window: [day, day],
        partitions: vec![day],
        missing: Vec::new(),
        empty: Vec::new(),
        files: manifest.files.len(),
        listed: Some([(day, storage::files_digest(&files))].into()),
        quality: None,
    })
}
