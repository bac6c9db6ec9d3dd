//! Runs one job for one day: binds typed parameters, registers each declared input restricted
//! to its day window (so the SQL cannot see other days, and only those partitions are read),
//! checks input files against the data contract, runs the SQL steps, runs the checks, and
//! commits each output partition atomically with its manifest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{Days, NaiveDate, Utc};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, Expr, SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};

use crate::contract;
use crate::engine::{self, EngineOptions};
use crate::job::{InputSpec, JobSpec, Root};
use crate::manifest::{InputEntry, LIVEREC_VERSION, PartitionManifest, schema_entries};
use crate::params::{self, ParamValue, Params};
use crate::project;
use crate::storage::{Location, Storage, partition_name};
use crate::writer::StagedPartition;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub job: JobSpec,
    pub date: NaiveDate,
    pub input: Location,
    pub output: Location,
    /// `key=value` parameter overrides, parsed against the job's declarations.
    pub overrides: Vec<(String, String)>,
    pub engine: EngineOptions,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub job: String,
    pub date: NaiveDate,
    pub run_id: String,
    pub outputs: Vec<OutputReport>,
    pub inputs: Vec<InputEntry>,
    pub checks: BTreeMap<String, serde_json::Value>,
    /// Small results to show (metrics tables).
    pub printed: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct OutputReport {
    pub table: String,
    pub location: String,
    pub rows: u64,
    pub files: usize,
}

/// Fails early, with one clear line, when a local output root cannot be created.
fn ensure_writable(output: &Location) -> Result<()> {
    if let Some(path) = output.local_path() {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("output location {} is not writable", path.display()))?;
    }
    Ok(())
}

pub fn new_run_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%S"), &id[..8])
}

fn shift(date: NaiveDate, offset: i64) -> Result<NaiveDate> {
    let shifted = if offset >= 0 {
        date.checked_add_days(Days::new(offset as u64))
    } else {
        date.checked_sub_days(Days::new(offset.unsigned_abs()))
    };
    shifted.with_context(|| format!("{date} {offset:+} days is out of range"))
}

/// Placeholder values the SQL may use: every parameter, `$date`, and `$day_start` /
/// `$day_end` (UTC timestamps bounding the day).
fn placeholder_values(params: &Params, date: NaiveDate) -> Result<HashMap<String, ScalarValue>> {
    let mut values: HashMap<String, ScalarValue> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_scalar()))
        .collect();
    let ts = |d: NaiveDate| {
        ScalarValue::TimestampMicrosecond(Some(params::day_start_micros(d)), Some("UTC".into()))
    };
    values.insert("day_start".into(), ts(date));
    values.insert("day_end".into(), ts(shift(date, 1)?));
    Ok(values)
}

/// Runs a query file from `sql/` with typed placeholder values.
pub async fn query(
    ctx: &SessionContext,
    sql_path: &str,
    values: &HashMap<String, ScalarValue>,
) -> Result<DataFrame> {
    let text = project::read(&format!("sql/{sql_path}"))?;
    // Job queries only read: no DDL, DML or SET statements.
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let started = std::time::Instant::now();
    let df = ctx
        .sql_with_options(&text, options)
        .await
        .with_context(|| format!("planning sql/{sql_path}"))?;
    let df = df
        .with_param_values(values.clone())
        .with_context(|| format!("binding parameters of sql/{sql_path}"))?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "logical plan of sql/{sql_path}"
    );
    Ok(df)
}

/// `run_job` as a boxed `Send` future, for a builtin that runs its sub-jobs as tasks of their
/// own: through the builtins the call is recursive, and a named `dyn Send` type ends the
/// cycle the compiler would otherwise have to see through.
pub fn run_job_task(
    req: RunRequest,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<RunReport>> + Send>> {
    Box::pin(run_job(req))
}

pub async fn run_job(req: RunRequest) -> Result<RunReport> {
    let job = &req.job;
    let mut params =
        params::bind(&job.params, &req.overrides).with_context(|| format!("job `{}`", job.name))?;
    params.insert("date".into(), ParamValue::Date(req.date));
    ensure_writable(&req.output)?;
    if let Some(builtin) = &job.builtin {
        // Builtins run other jobs: box the recursion.
        return Box::pin(crate::builtin::run(builtin, &req, &params)).await;
    }
    let run_id = new_run_id();
    tracing::info!(job = %job.name, date = %req.date, run_id = %run_id, "starting");

    let ctx = engine::new_context(&req.engine).await?;
    let input_root = Storage::open(req.input.clone())?;
    let output_root = Storage::open(req.output.clone())?;
    for root in [&input_root, &output_root] {
        ctx.register_object_store(&root.loc.store_url(), root.store.clone());
    }

    let max_missing = params
        .get("max_missing_days")
        .and_then(ParamValue::as_int)
        .unwrap_or(0)
        .max(0) as usize;
    let deadline = req
        .engine
        .timeout
        .map(|limit| tokio::time::Instant::now() + limit);
    let root_of = |spec: &InputSpec| match spec.from {
        Root::Input => &input_root,
        Root::Output => &output_root,
    };
    for spec in &job.inputs {
        if job.features_before_date && spec.window(&params)?.1 >= 0 {
            bail!(
                "job `{}`: input `{}` window reaches --date, but features must come from days before it",
                job.name,
                spec.table
            );
        }
    }
    // All inputs at once (listings, footers, recorded quality checks are small reads that
    // would otherwise wait on each other); results and errors are taken in declaration order.
    let registering = futures::future::join_all(job.inputs.iter().map(|spec| {
        register_input(
            &ctx,
            spec,
            root_of(spec),
            &output_root,
            &req,
            &params,
            max_missing,
        )
    }));
    // The run's deadline covers the data-quality scans of its inputs too.
    let registered = match deadline {
        None => registering.await,
        Some(at) => tokio::time::timeout_at(at, registering)
            .await
            .map_err(|_| timed_out(job, &req))?,
    };
    let mut inputs = Vec::new();
    for (spec, entry) in job.inputs.iter().zip(registered) {
        let entry = entry?;
        if job.features_before_date && entry.partitions.iter().any(|d| *d >= req.date) {
            bail!(
                "leakage: job `{}` read {} partitions on or after {}",
                job.name,
                spec.table,
                req.date
            );
        }
        if spec.lineage_before_date {
            check_lineage(root_of(spec), spec, &entry, req.date, &params).await?;
        }
        inputs.push(entry);
    }

    let values = placeholder_values(&params, req.date)?;
    // Materialized views of a cluster run live here until the run ends.
    let scratch = output_root
        .at(crate::writer::STAGING_DIR)
        .at("views")
        .at(&run_id);
    let mut staged = Vec::new();
    let mut json_outputs = Vec::new();
    let work = async {
        for step in &job.steps {
            let df = query(&ctx, &step.sql, &values).await?;
            if let Some(view) = &step.view {
                let table = if step.materialize {
                    let started = std::time::Instant::now();
                    let table = materialize(df, &scratch.at(view), req.engine.cluster.is_some())
                        .await
                        .with_context(|| format!("materializing sql/{}", step.sql))?;
                    tracing::info!(
                        view,
                        seconds = started.elapsed().as_secs_f64(),
                        "materialized sql/{}",
                        step.sql
                    );
                    table
                } else {
                    df.into_view()
                };
                ctx.register_table(view.as_str(), table)?;
                continue;
            }
            let table = step.output.as_deref().expect("validated: view or output");
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let started = std::time::Instant::now();
            let mut part = StagedPartition::begin(&output_root, table, req.date, &run_id).await?;
            let mut df = Some(df);
            let mut attempt = 0;
            let written = loop {
                let plan = match df.take() {
                    Some(df) => df,
                    None => query(&ctx, &step.sql, &values).await?,
                };
                let result = write_output(plan, &mut part, &schema, step.json.is_some())
                    .await
                    .with_context(|| format!("writing {table} from sql/{}", step.sql));
                match result {
                    Ok(batches) => break Ok(batches),
                    // Ballista re-runs lost tasks, but not the client's fetch of the final
                    // results from an executor that died: rerun the query into a clean
                    // staging directory once the scheduler has dropped that executor.
                    Err(e)
                        if req.engine.cluster.is_some()
                            && attempt < CLUSTER_RETRIES
                            && is_connection_error(&e) =>
                    {
                        attempt += 1;
                        tracing::warn!(
                            table,
                            attempt,
                            "lost an executor while fetching results, retrying: {e:#}"
                        );
                        part.reset().await?;
                        tokio::time::sleep(CLUSTER_RETRY_WAIT).await;
                    }
                    Err(e) => break Err(e),
                }
            };
            tracing::info!(
                table,
                rows = part.rows(),
                seconds = started.elapsed().as_secs_f64(),
                "staged sql/{}",
                step.sql
            );
            staged.push((part, schema));
            if let (Some(json_dir), Some(batches)) = (&step.json, written?) {
                json_outputs.push((json_dir.clone(), batches));
            }
        }
        let started = std::time::Instant::now();
        let checks = run_checks(&ctx, job, &values).await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "checks done");
        Ok::<_, anyhow::Error>(checks)
    };
    // A run-level deadline turns a wedged cluster job into a clear failure (nothing committed).
    let result = match deadline {
        None => work.await,
        Some(at) => match tokio::time::timeout_at(at, work).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(job, &req)),
        },
    };
    scratch.delete_all().await?;

    let checks = match result {
        Ok(checks) => checks,
        Err(e) => {
            for (part, _) in staged {
                part.abort().await;
            }
            return Err(e);
        }
    };

    let params_json = params::to_json(&params);
    let mut outputs = Vec::new();
    for (part, schema) in staged {
        let table = part.table.clone();
        let location = output_root
            .at(&table)
            .at(&partition_name(req.date))
            .loc
            .to_string();
        let rows = part.rows();
        let files = part.files.len();
        let manifest = PartitionManifest {
            table: table.clone(),
            dt: req.date,
            job: job.name.clone(),
            run_id: run_id.clone(),
            liverec_version: LIVEREC_VERSION.to_string(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(&schema),
            params: params_json.clone(),
            inputs: inputs.clone(),
            checks: checks.clone(),
        };
        part.commit(manifest).await?;
        outputs.push(OutputReport {
            table,
            location,
            rows,
            files,
        });
    }
    let mut printed = Vec::new();
    for (dir, batches) in json_outputs {
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        let refs: Vec<&arrow::array::RecordBatch> = batches.iter().collect();
        writer.write_batches(&refs)?;
        writer.finish()?;
        let name = format!("{}.json", partition_name(req.date));
        // One object put: atomic on every store.
        output_root
            .at(&dir)
            .write(&name, writer.into_inner().into())
            .await?;
        printed.push(arrow::util::pretty::pretty_format_batches(&batches)?.to_string());
    }
    Ok(RunReport {
        job: job.name.clone(),
        date: req.date,
        run_id,
        outputs,
        inputs,
        checks,
        printed,
    })
}

fn timed_out(job: &JobSpec, req: &RunRequest) -> anyhow::Error {
    anyhow::anyhow!(
        "job `{}` for {} exceeded its timeout of {} s; nothing was committed",
        job.name,
        req.date,
        req.engine.timeout.unwrap_or_default().as_secs()
    )
}

async fn run_checks(
    ctx: &SessionContext,
    job: &JobSpec,
    values: &HashMap<String, ScalarValue>,
) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for check in &job.checks {
        let batches = query(ctx, &check.sql, values).await?.collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows != 1 {
            bail!(
                "check `{}` (sql/{}) must return one row, returned {rows}",
                check.name,
                check.sql
            );
        }
        let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let value = ScalarValue::try_from_array(column, 0)?;
            let json = scalar_to_json(&value);
            let key = format!("{}.{}", check.name, field.name());
            if check.fail_if_nonzero.iter().any(|c| c == field.name())
                && json.as_f64().is_some_and(|x| x != 0.0)
            {
                bail!(
                    "check `{}` failed: {} = {} (must be 0; sql/{})",
                    check.name,
                    field.name(),
                    json,
                    check.sql
                );
            }
            out.insert(key, json);
        }
    }
    Ok(out)
}

fn scalar_to_json(v: &ScalarValue) -> serde_json::Value {
    if v.is_null() {
        return serde_json::Value::Null;
    }
    match v {
        ScalarValue::Int8(Some(x)) => (*x).into(),
        ScalarValue::Int16(Some(x)) => (*x).into(),
        ScalarValue::Int32(Some(x)) => (*x).into(),
        ScalarValue::Int64(Some(x)) => (*x).into(),
        ScalarValue::UInt64(Some(x)) => (*x).into(),
        ScalarValue::UInt32(Some(x)) => (*x).into(),
        ScalarValue::Float64(Some(x)) => serde_json::Number::from_f64(*x)
            .map(Into::into)
            .unwrap_or(serde_json::Value::Null),
        ScalarValue::Boolean(Some(b)) => (*b).into(),
        other => other.to_string().into(),
    }
}

const CLUSTER_RETRIES: usize = 3;
/// Three waits of 15 s outlast the scheduler's default 30 s executor timeout.
const CLUSTER_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether an error is a broken connection to an executor (worth rerunning the query).
fn is_connection_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}").to_ascii_lowercase();
    [
        "connection reset",
        "connection refused",
        "h2 protocol error",
        "transport error",
        "broken pipe",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Runs an output query into a staged partition. Small results (`json`) are also returned.
async fn write_output(
    df: DataFrame,
    part: &mut StagedPartition,
    schema: &SchemaRef,
    keep: bool,
) -> Result<Option<Vec<arrow::array::RecordBatch>>> {
    if keep {
        let batches = df.collect().await?;
        part.write_batches("part-00000.parquet", schema.clone(), &batches)
            .await?;
        return Ok(Some(batches));
    }
    let started = std::time::Instant::now();
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "optimized and physical plan"
    );
    let streams = datafusion::physical_plan::execute_stream_partitioned(plan, task)?;
    part.write_streams(schema.clone(), streams).await?;
    Ok(None)
}

/// Computes a view once. Embedded: kept in memory. On a cluster, where Ballista cannot ship
/// in-memory tables to executors, it is written as Parquet under `dir` (on the output store,
/// which every executor reads) and registered as a table; this also keeps the plans sent to
/// the scheduler shallow.
async fn materialize(
    df: DataFrame,
    dir: &Storage,
    cluster: bool,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    if !cluster {
        return Ok(df.cache().await?.into_view());
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let streams = df.execute_stream_partitioned().await?;
    if let Some(path) = dir.loc.local_path() {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    let files = crate::writer::write_files(dir, schema.clone(), streams).await?;
    if files.is_empty() {
        let empty = datafusion::datasource::MemTable::try_new(schema, vec![vec![]])?;
        return Ok(Arc::new(empty));
    }
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(dir.loc.dir_url())?)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Checks, from the manifests of the partitions read, that the features they hold were
/// computed from data before `date` only, with the same shared parameters as this run.
async fn check_lineage(
    root: &Storage,
    spec: &crate::job::InputSpec,
    entry: &InputEntry,
    date: NaiveDate,
    params: &Params,
) -> Result<()> {
    let table = root.at(&spec.table);
    for day in &entry.partitions {
        let manifest = crate::writer::read_manifest(&table, *day)
            .await?
            .with_context(|| {
                format!(
                    "{}/{} has no manifest: not written by liverec",
                    table.loc,
                    partition_name(*day)
                )
            })?;
        for input in &manifest.inputs {
            if input.window[1] >= date || input.partitions.iter().any(|d| *d >= date) {
                bail!(
                    "leakage: {}/{} was computed from {} up to {}, not before {date}",
                    table.loc,
                    partition_name(*day),
                    input.table,
                    input.window[1]
                );
            }
        }
        for (name, value) in params {
            if let Some(theirs) = manifest.params.get(name) {
                let ours = serde_json::to_value(value)?;
                if *theirs != ours {
                    bail!(
                        "{}/{} was built with {name} = {theirs}, this run uses {ours}: rebuild it",
                        table.loc,
                        partition_name(*day)
                    );
                }
            }
        }
    }
    Ok(())
}

/// A table of hive-partitioned Parquet under `dir` (`dt=YYYY-MM-DD/*.parquet`), with `dt` as
/// a DATE column.
pub fn dt_table(dir: &Storage, schema: SchemaRef) -> Result<Arc<ListingTable>> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("dt".to_string(), DataType::Date32)]);
    let config = ListingTableConfig::new(ListingTableUrl::parse(dir.loc.dir_url())?)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Registers one input as a view restricted to the partitions of its window. Input tables
/// are checked first: each file against the data contract, each day's rows against the
/// data-quality rules (a day with quarantined rows is read from its cleaned copy), and a day
/// without rows counts as missing.
async fn register_input(
    ctx: &SessionContext,
    spec: &crate::job::InputSpec,
    root: &Storage,
    output_root: &Storage,
    req: &RunRequest,
    params: &Params,
    max_missing: usize,
) -> Result<InputEntry> {
    let date = req.date;
    let (lo, hi) = spec.window(params)?;
    let (from, to) = (shift(date, lo)?, shift(date, hi)?);
    let table = root.at(&spec.table);
    let (present, mut missing) = table.partitions_between(from, to).await?;
    let contract = match spec.from {
        Root::Input => Some(contract::input_table(&spec.table).with_context(|| {
            format!("input `{}` is not a table of the data contract", spec.table)
        })?),
        Root::Output => None,
    };

    // Every file of every partition in the window is checked before the query runs.
    let mut days: Vec<(NaiveDate, Storage, Vec<object_store::ObjectMeta>)> = Vec::new();
    for day in &present {
        let part = table.at(&partition_name(*day));
        let files = part.list_parquet_files().await?;
        days.push((*day, part, files));
    }
    let files: Vec<(&Storage, &object_store::ObjectMeta)> = days
        .iter()
        .flat_map(|(_, part, files)| files.iter().map(move |m| (part, m)))
        .collect();
    // The reads are built first (owned), so the stream's type holds no closure over borrowed
    // pairs and the job's future stays `Send`.
    let reads: Vec<_> = files
        .iter()
        .map(|(part, meta)| {
            let store = part.store.clone();
            let meta = (*meta).clone();
            let name = part
                .loc
                .join(meta.location.filename().unwrap_or_default())
                .to_string();
            async move { contract::read_footer(store, &meta, &name).await }
        })
        .collect();
    let footers: Vec<contract::Footer> = futures::stream::iter(reads)
        .buffered(8)
        .try_collect()
        .await?;
    let schema = match contract {
        Some(c) => {
            for ((part, meta), found) in files.iter().zip(&footers) {
                let name = part.loc.join(meta.location.filename().unwrap_or_default());
                c.check(&name.to_string(), &found.schema)
                    .map_err(anyhow::Error::from)?;
            }
            c.schema()
        }
        None => match footers.first() {
            Some(f) => f.schema.clone(),
            None => bail!(
                "input `{}`: no files between {from} and {to} under {}",
                spec.table,
                table.loc
            ),
        },
    };

    // An input day without rows is as good as missing (footers are in the days' file order).
    let mut empty = Vec::new();
    if contract.is_some() {
        let mut rows = footers.iter().map(|f| f.rows);
        empty = days
            .iter()
            .filter(|(_, _, day_files)| rows.by_ref().take(day_files.len()).sum::<u64>() == 0)
            .map(|(d, _, _)| *d)
            .collect();
        days.retain(|(d, _, _)| !empty.contains(d));
    }
    if spec.latest {
        let last = days.pop();
        days.clear();
        missing.clear();
        empty.clear();
        match last {
            Some(last) => days.push(last),
            None if spec.required => bail!(
                "input `{}`: no snapshot with rows between {from} and {to} under {}",
                spec.table,
                table.loc
            ),
            None => {}
        }
    } else if spec.required && missing.len() + empty.len() > max_missing {
        let list: Vec<String> = missing
            .iter()
            .map(|d| d.to_string())
            .chain(empty.iter().map(|d| format!("{d} (empty)")))
            .collect();
        bail!(
            "input `{}` under {} lacks {} day(s) of its window {from}..{to}: {} (max_missing_days = {max_missing})",
            spec.table,
            table.loc,
            missing.len() + empty.len(),
            list.join(", ")
        );
    }
    let present: Vec<NaiveDate> = days.iter().map(|(d, _, _)| *d).collect();

    // Row-level data quality of each input day read.
    let mut quality = None;
    let mut cleaned_days = Vec::new();
    if let Some(c) = contract {
        let qp = crate::quality::QualityParams::from_params(params)?;
        let mut summary = crate::quality::InputQuality::default();
        for (day, part, day_files) in &days {
            let input = crate::quality::DayInput {
                contract: c,
                partition: part,
                day: *day,
                files: day_files,
                cluster: req.engine.cluster.is_some(),
            };
            let q = crate::quality::check_day(ctx, &input, output_root, &qp).await?;
            summary.add(*day, &q);
        }
        cleaned_days = summary.cleaned_days.clone();
        quality = Some(summary);
    }

    let day_filter = |days: &[NaiveDate]| {
        let values: Vec<Expr> = days
            .iter()
            .map(|d| lit(ScalarValue::Date32(Some(params::date_to_days(*d)))))
            .collect();
        if values.is_empty() {
            lit(false)
        } else {
            col("dt").in_list(values, false)
        }
    };
    let hidden = format!("__all_{}", spec.sql_name());
    ctx.register_table(hidden.as_str(), dt_table(&table, schema.clone())?)?;
    let raw_days: Vec<NaiveDate> = present
        .iter()
        .filter(|d| !cleaned_days.contains(d))
        .copied()
        .collect();
    let mut view = ctx
        .table(hidden.as_str())
        .await?
        .filter(day_filter(&raw_days))?;
    if !cleaned_days.is_empty() {
        // Days with quarantined rows are read from their cleaned copy.
        let dir = output_root.at(crate::quality::CLEANED_DIR).at(&spec.table);
        let hidden_clean = format!("__cleaned_{}", spec.sql_name());
        ctx.register_table(hidden_clean.as_str(), dt_table(&dir, schema.clone())?)?;
        let cleaned = ctx
            .table(hidden_clean.as_str())
            .await?
            .filter(day_filter(&cleaned_days))?;
        view = view.union(cleaned)?;
    }
    ctx.register_table(spec.sql_name(), view.into_view())?;
    tracing::info!(
        table = %spec.table,
        partitions = present.len(),
        cleaned = cleaned_days.len(),
        "registered input {from}..{to}"
    );
    Ok(InputEntry {
        table: spec.table.clone(),
        location: table.loc.to_string(),
        window: [from, to],
        partitions: present,
        missing,
        empty,
        files: days.iter().map(|(_, _, f)| f.len()).sum(),
        quality,
    })
}
