//! Row-level data quality of input partitions (docs/data-quality.md).
//!
//! Before a job reads a day of an input table, every row of it is checked against the rules
//! of `sql/quality/<table>.sql`, which names for each row the first rule it breaks
//! (`column:rule`, or `row:duplicate`). Rows with a reason are quarantined: counted by reason,
//! a sample committed to `quarantine/<table>/dt=D/`, and the jobs read a cleaned copy of the
//! day (`cleaned/<table>/dt=D/`) instead of the raw files. When a day's share of quarantined
//! rows exceeds `max_bad_fraction` the job fails with a message naming the file, column and
//! rule. The result is recorded with a fingerprint of the source files, the rules and the
//! parameters, so each day is checked once, not once per job.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use chrono::{NaiveDate, Utc};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::prelude::{DataFrame, Expr, SessionContext, col, lit, when};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::TableContract;
use crate::manifest::{LIVEREC_VERSION, PartitionManifest, schema_entries};
use crate::params::{self, ParamValue, Params};
use crate::storage::{Storage, partition_name};
use crate::writer::{StagedPartition, read_manifest};

/// Where samples of quarantined rows go, per table and day.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Where the cleaned copy of a day with quarantined rows goes.
pub const CLEANED_DIR: &str = "cleaned";
/// The parameters of `jobs/quality.toml`, which every job takes.
pub const QUALITY_JOB: &str = "quality";

/// The data-quality parameters, bound.
#[derive(Clone, Debug)]
pub struct QualityParams {
    pub max_bad_fraction: f64,
    pub max_duration_s: f64,
    pub ts_tolerance_s: i64,
    pub max_age: i64,
    pub sample_rows: usize,
    /// As recorded (part of the fingerprint of a check).
    json: BTreeMap<String, serde_json::Value>,
}

impl QualityParams {
    /// Takes the quality parameters from a job's bound parameters (every job declares them,
    /// see `JobSpec::load`).
    pub fn from_params(p: &Params) -> Result<Self> {
        let float = |k: &str| {
            p.get(k)
                .and_then(ParamValue::as_float)
                .with_context(|| format!("data-quality parameter `{k}` is not bound"))
        };
        let int = |k: &str| {
            p.get(k)
                .and_then(ParamValue::as_int)
                .with_context(|| format!("data-quality parameter `{k}` is not bound"))
        };
        let names = [
            "max_bad_fraction",
            "max_duration_s",
            "ts_tolerance_s",
            "max_age",
            "quarantine_sample_rows",
        ];
        let mut json = BTreeMap::new();
        for n in names {
            let v = p
                .get(n)
                .with_context(|| format!("data-quality parameter `{n}` is not bound"))?;
            json.insert(n.to_string(), serde_json::to_value(v)?);
        }
        Ok(Self {
            max_bad_fraction: float("max_bad_fraction")?,
            max_duration_s: float("max_duration_s")?,
            ts_tolerance_s: int("ts_tolerance_s")?,
            max_age: int("max_age")?,
            sample_rows: int("quarantine_sample_rows")?.max(0) as usize,
            json,
        })
    }
}

/// The outcome of checking one day of one table.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DayQuality {
    pub rows: u64,
    /// Quarantined rows by reason (`column:rule`).
    pub quarantined: BTreeMap<String, u64>,
    /// Anomalies that were kept (e.g. `ts:outside_day_tolerated`), by kind.
    pub tolerated: BTreeMap<String, u64>,
    /// The first file (by name) holding a row of each reason.
    pub first_file: BTreeMap<String, String>,
    /// Run id of the cleaned copy the jobs read, when rows were quarantined.
    pub cleaned: Option<String>,
    /// Whether the share of quarantined rows exceeded `max_bad_fraction`.
    pub failed: bool,
}

impl DayQuality {
    pub fn bad(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// What a job's manifest records about one input over its window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct InputQuality {
    pub rows: u64,
    pub quarantined: BTreeMap<String, u64>,
    pub tolerated: BTreeMap<String, u64>,
    /// Days read from their cleaned copy.
    pub cleaned_days: Vec<NaiveDate>,
}

impl InputQuality {
    pub fn add(&mut self, day: NaiveDate, q: &DayQuality) {
        self.rows += q.rows;
        for (k, v) in &q.quarantined {
            *self.quarantined.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &q.tolerated {
            *self.tolerated.entry(k.clone()).or_default() += v;
        }
        if q.cleaned.is_some() {
            self.cleaned_days.push(day);
        }
    }
}

/// One source file as fingerprinted: a changed file means a new check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct SourceFile {
    name: String,
    bytes: u64,
    modified: String,
    e_tag: Option<String>,
}

/// Checks of one partition are serialized within the process (concurrent workflow tasks
/// reading the same day): the second finds the first's record.
static LOCKS: LazyLock<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn lock_for(key: String) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

/// One partition to check.
pub struct DayInput<'a> {
    pub contract: &'static TableContract,
    /// The partition directory `<input>/<table>/dt=D`.
    pub partition: &'a Storage,
    pub day: NaiveDate,
    pub files: &'a [object_store::ObjectMeta],
    /// On a cluster, intermediate results cannot be held in the client's memory.
    pub cluster: bool,
}

/// Checks one input partition (or reuses the recorded check of the same files, rules and
/// parameters). A failed check is recorded too, and returned as an error naming file, column
/// and rule.
pub async fn check_day(
    ctx: &SessionContext,
    input: &DayInput<'_>,
    output_root: &Storage,
    qp: &QualityParams,
) -> Result<DayQuality> {
    let table = input.contract.name;
    let rules_path = format!("quality/{table}.sql");
    let rules = crate::project::read(&format!("sql/{rules_path}"))?;
    let dedup = Dedup::of(input.contract)?;
    let rules_sha = hex::encode(Sha256::digest(
        format!("{rules}\n{:?}\n{:?}", dedup.key, dedup.prefer).as_bytes(),
    ));
    let sources: Vec<SourceFile> = input
        .files
        .iter()
        .map(|m| SourceFile {
            name: m.location.filename().unwrap_or_default().to_string(),
            bytes: m.size,
            modified: m.last_modified.to_rfc3339(),
            e_tag: m.e_tag.clone(),
        })
        .collect();
    let quarantine = output_root.at(QUARANTINE_DIR).at(table);
    let cleaned = output_root.at(CLEANED_DIR).at(table);

    let _guard = lock_for(format!("{}#{}", quarantine.loc, input.day));
    let _guard = _guard.lock().await;
    if let Some(q) = recorded(&quarantine, &cleaned, input.day, &sources, &rules_sha, qp).await? {
        tracing::debug!(table, dt = %input.day, "data quality: reusing the recorded check");
        return verdict(input, output_root, q, qp);
    }

    let started = std::time::Instant::now();
    let ctx = &scan_context(ctx);
    let raw = raw_frame(ctx, input).await?;
    ctx.register_table("raw", raw.into_view())?;
    let result = async {
        let values = placeholder_values(input.day, qp)?;
        let checked = crate::runner::query(ctx, &rules_path, &values).await?;
        let run_id = crate::runner::new_run_id();
        // Most days are clean: one hash aggregation proves it. Otherwise every row gets its
        // reason, duplicates ranked by a window (a sort), for exact counts, sample and copy.
        let annotated = with_duplicates(checked.clone(), &dedup)?;
        let (mut q, annotated) = match clean_day(checked, &dedup).await? {
            Some(rows) => {
                let q = DayQuality {
                    rows,
                    ..DayQuality::default()
                };
                (q, annotated)
            }
            None => {
                // Counts, sample and copy each read the annotation: compute it once (one
                // day's rows) unless on a cluster, whose executors cannot read the client's
                // memory.
                let annotated = if input.cluster {
                    annotated
                } else {
                    annotated.cache().await?
                };
                (count_reasons(annotated.clone()).await?, annotated)
            }
        };
        let bad = q.bad();
        q.failed = q.rows > 0 && bad as f64 > qp.max_bad_fraction * q.rows as f64;

        let mut sample =
            StagedPartition::begin(output_root, &quarantine_table(table), input.day, &run_id)
                .await?;
        let schema: SchemaRef = Arc::new(annotated.schema().as_arrow().clone());
        let rows = if bad > 0 && qp.sample_rows > 0 {
            sample_rows(annotated.clone(), qp.sample_rows).await?
        } else {
            Vec::new()
        };
        sample
            .write_batches("part-00000.parquet", schema.clone(), &rows)
            .await?;

        if bad > 0 && !q.failed {
            let keep: Vec<_> = input.contract.columns.iter().map(|c| col(c.name)).collect();
            let clean = annotated.filter(col("reason").is_null())?.select(keep)?;
            let clean_schema: SchemaRef = Arc::new(clean.schema().as_arrow().clone());
            let mut part =
                StagedPartition::begin(output_root, &cleaned_table(table), input.day, &run_id)
                    .await?;
            part.write_streams(
                clean_schema.clone(),
                clean.execute_stream_partitioned().await?,
            )
            .await?;
            part.commit(record(
                &cleaned_table(table),
                input.day,
                &run_id,
                &clean_schema,
                qp,
                BTreeMap::new(),
            ))
            .await?;
            q.cleaned = Some(run_id.clone());
        }
        let mut checks = BTreeMap::new();
        checks.insert("quality".to_string(), serde_json::to_value(&q)?);
        checks.insert("source_files".to_string(), serde_json::to_value(&sources)?);
        checks.insert("rules_sha256".to_string(), rules_sha.clone().into());
        sample
            .commit(record(
                &quarantine_table(table),
                input.day,
                &run_id,
                &schema,
                qp,
                checks,
            ))
            .await?;
        Ok::<_, anyhow::Error>(q)
    }
    .await;
    ctx.deregister_table("raw")?;
    let q = match result {
        Ok(q) => q,
        Err(e) => {
            // Another process checking the same day may have committed its record first (on
            // object stores the loser's commit is refused): the same inputs and rules give
            // the same verdict, so use that record.
            if let Ok(Some(q)) =
                recorded(&quarantine, &cleaned, input.day, &sources, &rules_sha, qp).await
            {
                tracing::info!(table, dt = %input.day, "data quality: another run recorded this check first: {e:#}");
                return verdict(input, output_root, q, qp);
            }
            // A file whose footer reads but whose data does not: name it.
            if let Some(bad) = unreadable_file(ctx, input).await {
                return Err(bad);
            }
            return Err(e.context(format!("data-quality check of {}", input.partition.loc)));
        }
    };
    tracing::info!(
        table,
        dt = %input.day,
        rows = q.rows,
        quarantined = q.bad(),
        seconds = started.elapsed().as_secs_f64(),
        "data quality checked"
    );
    verdict(input, output_root, q, qp)
}

/// Logs the anomalies of a day and turns a failed check into its error.
fn verdict(
    input: &DayInput<'_>,
    output_root: &Storage,
    q: DayQuality,
    qp: &QualityParams,
) -> Result<DayQuality> {
    let table = input.contract.name;
    let sample_dir = output_root
        .at(QUARANTINE_DIR)
        .at(table)
        .at(&partition_name(input.day));
    let reasons: Vec<String> = q
        .quarantined
        .iter()
        .map(|(reason, n)| {
            let file = q.first_file.get(reason).map(String::as_str).unwrap_or("?");
            let file = input.partition.loc.join(file);
            match reason.split_once(':') {
                Some(("row", "duplicate")) => {
                    format!("{n} row(s) duplicate another (row:duplicate, first in {file})")
                }
                Some((column, rule)) => {
                    format!("{n} row(s) break rule `{rule}` of column `{column}` (first in {file})")
                }
                None => format!("{n} row(s): {reason} (first in {file})"),
            }
        })
        .collect();
    if q.failed {
        bail!(
            "data quality: {table}/{}: {} of {} rows ({:.2}%) are bad, more than max_bad_fraction = {}: {}; a sample is in {} (accept with --set max_bad_fraction=…)",
            partition_name(input.day),
            q.bad(),
            q.rows,
            100.0 * q.bad() as f64 / q.rows.max(1) as f64,
            qp.max_bad_fraction,
            reasons.join("; "),
            sample_dir.loc
        );
    }
    if q.bad() > 0 {
        tracing::warn!(
            table,
            dt = %input.day,
            "data quality: quarantined {} of {} rows: {}; sample in {}",
            q.bad(),
            q.rows,
            reasons.join("; "),
            sample_dir.loc
        );
    }
    for (kind, n) in &q.tolerated {
        tracing::info!(table, dt = %input.day, "data quality: kept {n} row(s) with {kind}");
    }
    Ok(q)
}

fn quarantine_table(table: &str) -> String {
    format!("{QUARANTINE_DIR}/{table}")
}

fn cleaned_table(table: &str) -> String {
    format!("{CLEANED_DIR}/{table}")
}

fn record(
    table: &str,
    day: NaiveDate,
    run_id: &str,
    schema: &Schema,
    qp: &QualityParams,
    checks: BTreeMap<String, serde_json::Value>,
) -> PartitionManifest {
    PartitionManifest {
        table: table.to_string(),
        dt: day,
        job: QUALITY_JOB.to_string(),
        run_id: run_id.to_string(),
        liverec_version: LIVEREC_VERSION.to_string(),
        created_at: Utc::now(),
        rows: 0,
        files: Vec::new(),
        schema: schema_entries(schema),
        params: qp.json.clone(),
        inputs: Vec::new(),
        checks,
    }
}

/// The recorded check of this day, if it was made on the same files with the same rules and
/// parameters (and its cleaned copy is the one committed).
async fn recorded(
    quarantine: &Storage,
    cleaned: &Storage,
    day: NaiveDate,
    sources: &[SourceFile],
    rules_sha: &str,
    qp: &QualityParams,
) -> Result<Option<DayQuality>> {
    let Some(m) = read_manifest(quarantine, day).await? else {
        return Ok(None);
    };
    let same_files = m
        .checks
        .get("source_files")
        .and_then(|v| serde_json::from_value::<Vec<SourceFile>>(v.clone()).ok())
        .is_some_and(|s| s == sources);
    let same_rules = m.checks.get("rules_sha256").and_then(|v| v.as_str()) == Some(rules_sha);
    if !same_files || !same_rules || m.params != qp.json {
        return Ok(None);
    }
    let Some(q) = m
        .checks
        .get("quality")
        .and_then(|v| serde_json::from_value::<DayQuality>(v.clone()).ok())
    else {
        return Ok(None);
    };
    if let Some(run_id) = &q.cleaned {
        let committed = read_manifest(cleaned, day).await?;
        if committed.is_none_or(|c| &c.run_id != run_id) {
            return Ok(None);
        }
    }
    Ok(Some(q))
}

/// The job's context without file statistics. Parquet min/max leave NaN out, and DataFusion
/// 55 takes a column whose min equals its max in a file for a constant (`constant_columns_
/// from_stats` in its Parquet opener): a NaN among 1.0s is read back as 1.0 — exactly the
/// values this check must see (apache/datafusion PR 24804 describes the class of bug).
fn scan_context(ctx: &SessionContext) -> SessionContext {
    let state = ctx.state();
    // DataFusion's default batches of 8 Ki rows, not the jobs' 32 Ki: the checks of a medium
    // day (one wide table, a dedup by all its columns) ran 10-25 % slower with the larger ones.
    let mut config = state.config().clone().with_batch_size(8 * 1024);
    config.options_mut().execution.collect_statistics = false;
    // Its own catalog: building a state puts a new default catalog into its catalog list.
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .with_catalog_list(Arc::new(
            datafusion::catalog::MemoryCatalogProviderList::new(),
        ))
        .build();
    SessionContext::new_with_state(state)
}

/// The partition's files as one table with every contract column nullable (so that nulls
/// in "non-null" columns are read and counted, not refused) and the file name as `_file`.
async fn raw_frame(ctx: &SessionContext, input: &DayInput<'_>) -> Result<DataFrame> {
    let schema: SchemaRef = Arc::new(Schema::new(
        input
            .contract
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.canonical(), true))
            .collect::<Vec<_>>(),
    ));
    let mut frames = Vec::new();
    for meta in input.files {
        let name = meta.location.filename().unwrap_or_default().to_string();
        let url = ListingTableUrl::parse(input.partition.loc.join(&name).url().as_str())?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema.clone());
        let frame = ctx
            .read_table(Arc::new(ListingTable::try_new(config)?))?
            .with_column("_file", lit(name))?;
        frames.push(frame);
    }
    let mut frames = frames.into_iter();
    let first = frames
        .next()
        .with_context(|| format!("{} has no data files", input.partition.loc))?;
    frames.try_fold(first, |acc, f| acc.union(f).map_err(Into::into))
}

/// Which rows of a table are the same event (`sql/quality/dedup.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Dedup {
    key: Vec<String>,
    #[serde(default)]
    prefer: Vec<String>,
}

impl Dedup {
    /// The table's declaration, its columns checked against the contract.
    fn of(contract: &TableContract) -> Result<Self> {
        let path = "sql/quality/dedup.toml";
        let all: BTreeMap<String, Dedup> = toml::from_str(&crate::project::read(path)?)
            .with_context(|| format!("parsing {path}"))?;
        let d = all
            .get(contract.name)
            .cloned()
            .with_context(|| format!("{path} has no [{}]", contract.name))?;
        let known = |c: &str| contract.columns.iter().any(|k| k.name == c);
        for c in &d.key {
            if !known(c) {
                bail!(
                    "{path}: [{}] key column `{c}` is not in the contract",
                    contract.name
                );
            }
        }
        for p in &d.prefer {
            let (c, _) = Self::order(p)?;
            if !known(c) {
                bail!(
                    "{path}: [{}] prefer column `{c}` is not in the contract",
                    contract.name
                );
            }
        }
        Ok(d)
    }

    /// `"column"` or `"column desc"` (`asc` allowed).
    fn order(text: &str) -> Result<(&str, bool)> {
        let mut words = text.split_whitespace();
        let column = words.next().context("an empty `prefer` entry")?;
        let ascending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => true,
            Some("desc") => false,
            Some(other) => bail!("`prefer` entry {text:?}: expected asc or desc, found {other}"),
        };
        if words.next().is_some() {
            bail!("`prefer` entry {text:?}: expected \"column [asc|desc]\"");
        }
        Ok((column, ascending))
    }

    /// Group rows passing every rule by key (rows breaking one stay apart).
    fn partition(&self) -> Vec<Expr> {
        std::iter::once(col("rule").is_null().alias("good"))
            .chain(self.key.iter().map(|c| col(c.as_str())))
            .collect()
    }
}

/// The rows of a day that passes every rule and has no duplicate and no tolerated anomaly:
/// Some(rows); otherwise None (the full annotation is needed).
async fn clean_day(checked: DataFrame, dedup: &Dedup) -> Result<Option<u64>> {
    let groups = checked.aggregate(
        dedup.partition(),
        vec![
            count(lit(1)).alias("n"),
            count(col("rule")).alias("bad"),
            count(col("note")).alias("noted"),
        ],
    )?;
    let batches = groups
        .aggregate(
            vec![],
            vec![
                sum(col("n")).alias("rows"),
                sum(col("bad")).alias("bad"),
                sum(col("noted")).alias("noted"),
                max(col("n")).alias("largest"),
            ],
        )?
        .collect()
        .await?;
    let value = |name: &str| -> Result<i64> {
        let b = batches.iter().find(|b| b.num_rows() > 0);
        Ok(b.map(|b| {
            let c = arrow::compute::cast(
                b.column_by_name(name).expect("aggregate column"),
                &arrow::datatypes::DataType::Int64,
            )?;
            Ok::<_, arrow::error::ArrowError>(
                c.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            )
        })
        .transpose()?
        .unwrap_or(0))
    };
    let (rows, bad, noted, largest) = (
        value("rows")?,
        value("bad")?,
        value("noted")?,
        value("largest")?,
    );
    Ok((bad == 0 && noted == 0 && largest <= 1).then_some(rows.max(0) as u64))
}

/// Every row with its reason: the first rule it breaks, or `row:duplicate` for all but the
/// preferred row of each key among the rows passing every rule.
fn with_duplicates(checked: DataFrame, dedup: &Dedup) -> Result<DataFrame> {
    let mut order = Vec::new();
    for p in &dedup.prefer {
        let (c, ascending) = Dedup::order(p)?;
        order.push(col(c).sort(ascending, false));
    }
    order.push(col("_file").sort(true, false));
    let rank = row_number()
        .partition_by(dedup.partition())
        .order_by(order)
        .build()?
        .alias("rank_in_key");
    let columns: Vec<Expr> = checked
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !matches!(*n, "rule" | "note"))
        .map(col)
        .chain([
            coalesce(vec![
                col("rule"),
                when(col("rank_in_key").gt(lit(1u64)), lit("row:duplicate")).end()?,
            ])
            .alias("reason"),
            when(col("rule").is_null(), col("note"))
                .end()?
                .alias("note"),
        ])
        .collect();
    Ok(checked.window(vec![rank])?.select(columns)?)
}

/// The first file of the partition whose rows cannot be read, as an error naming it.
async fn unreadable_file(ctx: &SessionContext, input: &DayInput<'_>) -> Option<anyhow::Error> {
    for meta in input.files {
        let one = DayInput {
            files: std::slice::from_ref(meta),
            ..*input
        };
        // Every column decoded (a count could be answered from the footer).
        let read = async {
            let mut stream = raw_frame(ctx, &one).await?.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                batch?;
            }
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = read.await {
            let name = input
                .partition
                .loc
                .join(meta.location.filename().unwrap_or_default());
            return Some(e.context(format!(
                "{name} is not a readable Parquet file: its data pages cannot be decoded"
            )));
        }
    }
    None
}

fn placeholder_values(day: NaiveDate, qp: &QualityParams) -> Result<HashMap<String, ScalarValue>> {
    let ts = |micros: i64| ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()));
    let start = params::day_start_micros(day);
    let end = start + 86_400_000_000;
    let tolerance = qp.ts_tolerance_s * 1_000_000;
    let mut v = HashMap::new();
    v.insert(
        "date".into(),
        ScalarValue::Date32(Some(params::date_to_days(day))),
    );
    v.insert("day_start".into(), ts(start));
    v.insert("day_end".into(), ts(end));
    v.insert("tolerated_start".into(), ts(start - tolerance));
    v.insert("tolerated_end".into(), ts(end + tolerance));
    v.insert("now".into(), ts(Utc::now().timestamp_micros()));
    v.insert(
        "max_duration_s".into(),
        ScalarValue::Float64(Some(qp.max_duration_s)),
    );
    v.insert("max_age".into(), ScalarValue::Int64(Some(qp.max_age)));
    Ok(v)
}

/// Rows, quarantined rows by reason (with the first file of each) and tolerated anomalies.
async fn count_reasons(annotated: DataFrame) -> Result<DayQuality> {
    let batches = annotated
        .aggregate(
            vec![col("reason"), col("note")],
            vec![
                count(lit(1)).alias("n"),
                min(col("_file")).alias("first_file"),
            ],
        )?
        .collect()
        .await?;
    let mut q = DayQuality::default();
    for b in &batches {
        let reason = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
        let note = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8)?;
        let n = b.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        let file = arrow::compute::cast(b.column(3), &arrow::datatypes::DataType::Utf8)?;
        let (reason, note, file) = (
            reason.as_string::<i32>(),
            note.as_string::<i32>(),
            file.as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            let rows = n.value(i) as u64;
            q.rows += rows;
            if reason.is_valid(i) {
                let r = reason.value(i).to_string();
                *q.quarantined.entry(r.clone()).or_default() += rows;
                let f = file.value(i).to_string();
                let first = q.first_file.entry(r).or_insert_with(|| f.clone());
                if f < *first {
                    *first = f;
                }
            } else if note.is_valid(i) {
                *q.tolerated.entry(note.value(i).to_string()).or_default() += rows;
            }
        }
    }
    Ok(q)
}

/// Up to `per_reason` quarantined rows of each reason, streamed (a day that is all bad is not
/// held in memory).
async fn sample_rows(annotated: DataFrame, per_reason: usize) -> Result<Vec<RecordBatch>> {
    let mut stream = annotated
        .filter(col("reason").is_not_null())?
        .execute_stream()
        .await?;
    let mut kept: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let idx = batch.schema().index_of("reason")?;
        let reason = arrow::compute::cast(batch.column(idx), &arrow::datatypes::DataType::Utf8)?;
        let reason = reason.as_string::<i32>();
        let mut take = Vec::new();
        for i in 0..batch.num_rows() {
            let n = kept.entry(reason.value(i).to_string()).or_default();
            if *n < per_reason {
                *n += 1;
                take.push(i as u32);
            }
        }
        if !take.is_empty() {
            out.push(arrow::compute::take_record_batch(
                &batch,
                &UInt32Array::from(take),
            )?);
        }
    }
    Ok(out)
}

/// What the `quality` job found for one table of a day.
pub struct TableDay {
    pub table: &'static str,
    /// None: no partition (or no rows) for the day.
    pub quality: Option<DayQuality>,
}

/// Checks every input table's partition of `day` (the `quality` job, and the daily
/// workflow's first task): files against the contract, rows against the rules. Event tables
/// without rows for the day are an error; a snapshot table may be absent (jobs read the
/// newest snapshot of their window).
pub async fn check_tables_of_day(
    ctx: &SessionContext,
    input_root: &Storage,
    output_root: &Storage,
    day: NaiveDate,
    qp: &QualityParams,
    cluster: bool,
) -> Result<Vec<TableDay>> {
    let mut out = Vec::new();
    let mut absent = Vec::new();
    for contract in crate::contract::INPUT_TABLES {
        let part = input_root.at(contract.name).at(&partition_name(day));
        let files = part.list_parquet_files().await?;
        let mut rows = 0;
        for meta in &files {
            let name = part
                .loc
                .join(meta.location.filename().unwrap_or_default())
                .to_string();
            let footer = crate::contract::read_footer(part.store.clone(), meta, &name).await?;
            contract.check(&name, &footer.schema)?;
            rows += footer.rows;
        }
        let snapshot = matches!(contract.name, "users" | "anchors");
        if rows == 0 {
            if !snapshot {
                absent.push(contract.name);
            }
            out.push(TableDay {
                table: contract.name,
                quality: None,
            });
            continue;
        }
        let input = DayInput {
            contract,
            partition: &part,
            day,
            files: &files,
            cluster,
        };
        let q = check_day(ctx, &input, output_root, qp).await?;
        out.push(TableDay {
            table: contract.name,
            quality: Some(q),
        });
    }
    if !absent.is_empty() {
        bail!(
            "input for {day} is missing or empty in: {} (under {})",
            absent.join(", "),
            input_root.loc
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_interaction_rule_lists_the_contract_kinds() {
        let sql = crate::project::read("sql/quality/interactions.sql").unwrap();
        let list: Vec<String> = crate::contract::INTERACTION_KINDS
            .iter()
            .map(|k| format!("'{k}'"))
            .collect();
        let expected = format!("kind NOT IN ({})", list.join(", "));
        assert!(sql.contains(&expected), "{expected} not in the rules");
    }

    #[test]
    fn every_input_table_has_rules_naming_its_columns() {
        let generic = crate::contract::GENERIC_TABLES;
        for c in crate::contract::INPUT_TABLES.iter().chain(generic.iter()) {
            let sql = crate::project::read(&format!("sql/quality/{}.sql", c.name)).unwrap();
            for col in c.columns {
                assert!(sql.contains(col.name), "{}: {}", c.name, col.name);
            }
            assert!(
                sql.contains("AS rule") && sql.contains("AS note"),
                "{}",
                c.name
            );
            let dedup = super::Dedup::of(c).unwrap();
            assert!(!dedup.key.is_empty(), "{}", c.name);
        }
        assert!(super::Dedup::order("duration_s desc").is_ok_and(|o| o == ("duration_s", false)));
        assert!(super::Dedup::order("duration_s sideways").is_err());
    }
}
