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

mod dedup;
mod scan;
mod tables;

pub use tables::{TableDay, check_tables_of_day};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result, bail};
use arrow::datatypes::{Schema, SchemaRef};
use chrono::{NaiveDate, Utc};
use datafusion::prelude::{SessionContext, col};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cluster::write::stage_frame;
use crate::contract::TableContract;
use crate::doc::partition::{PartitionManifest, schema_entries};
use crate::doc::quality::DayQuality;
use crate::layout::{self, cleaned_table, quarantine_table};
use crate::params::{self, Params};
use crate::query::{self, Placeholders, utc_micros};
use crate::storage::{Storage, committed};
use crate::version::LIVEREC_VERSION;
use crate::writer::{StagedPartition, read_manifest};
use dedup::{Dedup, clean_day, with_duplicates};
use scan::{count_reasons, raw_frame, sample_frame, sample_rows, scan_context, unreadable_file};

/// The data-quality parameters (`jobs/quality.toml`), which every job takes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QualityParams {
    pub max_bad_fraction: f64,
    pub max_duration_s: f64,
    pub ts_tolerance_s: i64,
    pub max_age: i64,
    #[serde(rename = "quarantine_sample_rows")]
    pub sample_rows: usize,
}

impl QualityParams {
    /// Takes the quality parameters from a job's bound parameters (every job declares them,
    /// see `JobSpec::load`).
    pub fn from_params(p: &Params) -> Result<Self> {
        params::settings(p).context("data-quality parameters")
    }

    /// As recorded in a check's manifest (part of what makes a recorded check reusable).
    fn recorded(&self) -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => BTreeMap::new(),
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
    /// The cluster's URL, when on one: intermediate results cannot be held in the client's
    /// memory there, and the executors write the sample and the cleaned copy.
    pub cluster: Option<String>,
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
    let quarantine = output_root.at(&quarantine_table(table));
    let cleaned = output_root.at(&cleaned_table(table));

    let _guard = lock_for(format!("{}#{}", quarantine.loc, input.day));
    let _guard = _guard.lock().await;
    if let Some(q) = recorded(&quarantine, &cleaned, input.day, &sources, &rules_sha, qp).await? {
        tracing::debug!(table, dt = %input.day, "data quality: reusing the recorded check");
        return verdict(input, output_root, q, qp, false);
    }

    let started = std::time::Instant::now();
    let ctx = &scan_context(ctx);
    let raw = raw_frame(ctx, input).await?;
    ctx.register_table("raw", raw.into_view())?;
    let result = async {
        let values = rule_placeholders(input.day, qp)?;
        let checked = query::query(ctx, &rules_path, &values).await?;
        let run_id = committed::new_run_id();
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
                let annotated = if input.cluster.is_some() {
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
        let cluster = input.cluster.as_deref();
        match cluster {
            // On a cluster the executors write the sample (the first rows of each reason by
            // file), so no row passes through the client.
            Some(_) if bad > 0 && qp.sample_rows > 0 => {
                let rows = sample_frame(annotated.clone(), qp.sample_rows)?;
                stage_frame(&mut sample, rows, cluster).await?;
            }
            _ => {
                let rows = if bad > 0 && qp.sample_rows > 0 {
                    sample_rows(annotated.clone(), qp.sample_rows).await?
                } else {
                    Vec::new()
                };
                sample
                    .write_batches(&layout::data_file(0), schema.clone(), &rows)
                    .await?;
            }
        }

        if bad > 0 && !q.failed {
            let keep: Vec<_> = input.contract.columns.iter().map(|c| col(c.name)).collect();
            let clean = annotated.filter(col("reason").is_null())?.select(keep)?;
            let clean_schema: SchemaRef = Arc::new(clean.schema().as_arrow().clone());
            let mut part =
                StagedPartition::begin(output_root, &cleaned_table(table), input.day, &run_id)
                    .await?;
            stage_frame(&mut part, clean, cluster).await?;
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
                return verdict(input, output_root, q, qp, false);
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
    verdict(input, output_root, q, qp, true)
}

/// Logs the anomalies of a day and turns a failed check into its error. Quarantined rows are
/// a warning when the check was just made (`fresh`); a job reusing the recorded check repeats
/// them as information only.
fn verdict(
    input: &DayInput<'_>,
    output_root: &Storage,
    q: DayQuality,
    qp: &QualityParams,
    fresh: bool,
) -> Result<DayQuality> {
    let table = input.contract.name;
    let sample_dir = output_root
        .at(&quarantine_table(table))
        .at(&layout::partition(input.day));
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
            layout::partition(input.day),
            q.bad(),
            q.rows,
            100.0 * q.bad() as f64 / q.rows.max(1) as f64,
            qp.max_bad_fraction,
            reasons.join("; "),
            sample_dir.loc
        );
    }
    if q.bad() > 0 {
        let line = format!(
            "data quality: quarantined {} of {} rows: {}; sample in {}",
            q.bad(),
            q.rows,
            reasons.join("; "),
            sample_dir.loc
        );
        if fresh {
            tracing::warn!(table, dt = %input.day, "{line}");
        } else {
            tracing::info!(table, dt = %input.day, "{line} (recorded check)");
        }
    }
    for (kind, n) in &q.tolerated {
        tracing::info!(table, dt = %input.day, "data quality: kept {n} row(s) with {kind}");
    }
    Ok(q)
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
        job: crate::job::QUALITY_JOB.to_string(),
        run_id: run_id.to_string(),
        liverec_version: LIVEREC_VERSION.to_string(),
        created_at: Utc::now(),
        rows: 0,
        files: Vec::new(),
        schema: schema_entries(schema),
        params: qp.recorded(),
        inputs: Vec::new(),
        checks,
        replaced: Vec::new(),
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
    if !same_files || !same_rules || m.params != qp.recorded() {
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

/// The placeholders of `sql/quality/<table>.sql`: the day's bounds, the tolerated bounds,
/// now, and the limits.
pub fn rule_placeholders(day: NaiveDate, qp: &QualityParams) -> Result<Placeholders> {
    let start = params::day_start_micros(day);
    let end = start + 86_400_000_000;
    let tolerance = qp.ts_tolerance_s * 1_000_000;
    let mut v = Placeholders::new();
    v.insert(
        "date".into(),
        datafusion::common::ScalarValue::Date32(Some(params::date_to_days(day))),
    );
    v.insert("day_start".into(), utc_micros(start));
    v.insert("day_end".into(), utc_micros(end));
    v.insert("tolerated_start".into(), utc_micros(start - tolerance));
    v.insert("tolerated_end".into(), utc_micros(end + tolerance));
    v.insert("now".into(), utc_micros(Utc::now().timestamp_micros()));
    v.insert(
        "max_duration_s".into(),
        datafusion::common::ScalarValue::Float64(Some(qp.max_duration_s)),
    );
    v.insert(
        "max_age".into(),
        datafusion::common::ScalarValue::Int64(Some(qp.max_age)),
    );
    Ok(v)
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
