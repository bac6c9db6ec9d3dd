//! `liverec import-interactions`: generic user–item interactions from another data set (a
//! delimited text file with a header, or Parquet) into the `item_events` input table
//! (`<input>/item_events/dt=D/`, one partition per UTC day of the time column), so the
//! item-CF jobs run on it (`itemcf_items`, `eval_items`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::Column;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext, col};

use crate::contract::ITEM_EVENTS;
use crate::doc::partition::{PartitionManifest, schema_entries};
use crate::storage::Storage;
use crate::version::LIVEREC_VERSION;
use crate::writer::StagedPartition;

/// Where the four fields are in the source.
#[derive(Clone, Debug)]
pub struct ImportSpec {
    /// A local file: `.parquet`, or text with a header row.
    pub source: std::path::PathBuf,
    /// Field separator of a text file.
    pub delimiter: u8,
    pub user_col: String,
    pub item_col: String,
    /// Seconds since the Unix epoch (integer or float).
    pub time_col: String,
    /// The interaction's weight (a rating, a count, seconds); 1.0 for every row without it.
    pub weight_col: Option<String>,
}

pub struct ImportReport {
    pub rows: u64,
    pub days: usize,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// One source column as a typed array, with a clear error for a missing column or an empty
/// value.
fn column(batch: &RecordBatch, name: &str, to: &DataType, source: &str) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .with_context(|| format!("{source}: no column {name:?}"))?;
    let cast = arrow::compute::cast(array, to)
        .with_context(|| format!("{source}: column {name:?} is not a number"))?;
    if cast.null_count() > array.null_count() {
        bail!("{source}: column {name:?} has values that are not numbers");
    }
    if cast.null_count() > 0 {
        bail!(
            "{source}: column {name:?} has {} empty value(s)",
            cast.null_count()
        );
    }
    Ok(cast)
}

pub async fn import(spec: &ImportSpec, out: &Storage) -> Result<ImportReport> {
    let source = spec.source.display().to_string();
    let path = spec
        .source
        .to_str()
        .with_context(|| format!("{source}: not a UTF-8 path"))?;
    if !spec.source.is_file() {
        bail!("{source}: no such file");
    }
    let ctx = SessionContext::new();
    let df = if path.ends_with(".parquet") {
        ctx.read_parquet(path, ParquetReadOptions::default())
            .await?
    } else {
        let ext = spec
            .source
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let options = CsvReadOptions::new()
            .has_header(true)
            .delimiter(spec.delimiter)
            .file_extension(&ext);
        ctx.read_csv(path, options).await?
    };
    let mut wanted = vec![&spec.user_col, &spec.item_col, &spec.time_col];
    wanted.extend(spec.weight_col.as_ref());
    for name in &wanted {
        if df.schema().field_with_unqualified_name(name).is_err() {
            let found: Vec<&String> = df.schema().fields().iter().map(|f| f.name()).collect();
            bail!("{source}: no column {name:?} (columns: {found:?})");
        }
    }
    // Columns are named through the DataFrame API, never spliced into SQL.
    let batches = df
        .select(
            wanted
                .iter()
                .map(|n| col(Column::from_name(n.as_str())))
                .collect::<Vec<_>>(),
        )?
        .collect()
        .await
        .with_context(|| format!("cannot read {source}"))?;

    // Rows per UTC day, in source order.
    let mut days: BTreeMap<NaiveDate, Vec<(i64, i64, i64, f64)>> = BTreeMap::new();
    for batch in &batches {
        let users = column(batch, &spec.user_col, &DataType::Int64, &source)?;
        let items = column(batch, &spec.item_col, &DataType::Int64, &source)?;
        let times = column(batch, &spec.time_col, &DataType::Float64, &source)?;
        let weights = match &spec.weight_col {
            Some(w) => Some(column(batch, w, &DataType::Float64, &source)?),
            None => None,
        };
        let users = users.as_any().downcast_ref::<Int64Array>().unwrap();
        let items = items.as_any().downcast_ref::<Int64Array>().unwrap();
        let times = times.as_any().downcast_ref::<Float64Array>().unwrap();
        let weights = weights
            .as_ref()
            .map(|w| w.as_any().downcast_ref::<Float64Array>().unwrap());
        for r in 0..batch.num_rows() {
            let micros = (times.value(r) * 1e6).round() as i64;
            let day = DateTime::<Utc>::from_timestamp_micros(micros)
                .with_context(|| {
                    format!(
                        "{source}: column {:?}: {} is not a time in seconds since 1970",
                        spec.time_col,
                        times.value(r)
                    )
                })?
                .date_naive();
            let weight = weights.map_or(1.0, |w| w.value(r));
            days.entry(day)
                .or_default()
                .push((micros, users.value(r), items.value(r), weight));
        }
    }
    let (Some(first), Some(last)) = (
        days.keys().next().copied(),
        days.keys().next_back().copied(),
    ) else {
        bail!("{source}: no rows");
    };

    let schema = ITEM_EVENTS.schema();
    let run_id = crate::storage::committed::new_run_id();
    let mut params = BTreeMap::new();
    params.insert("source".to_string(), serde_json::json!(source));
    params.insert("user_col".to_string(), serde_json::json!(spec.user_col));
    params.insert("item_col".to_string(), serde_json::json!(spec.item_col));
    params.insert("time_col".to_string(), serde_json::json!(spec.time_col));
    params.insert("weight_col".to_string(), serde_json::json!(spec.weight_col));
    let mut rows = 0;
    for (day, events) in &days {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.0))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.1))),
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.2))),
                Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.3))),
            ],
        )?;
        let mut part = StagedPartition::begin(out, ITEM_EVENTS.name, *day, &run_id).await?;
        part.write_batches("part-00000.parquet", schema.clone(), &[batch])
            .await?;
        rows += part.rows();
        part.commit(PartitionManifest {
            table: ITEM_EVENTS.name.to_string(),
            dt: *day,
            job: "import-interactions".into(),
            run_id: run_id.clone(),
            liverec_version: LIVEREC_VERSION.into(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(&schema),
            params: params.clone(),
            inputs: Vec::new(),
            checks: BTreeMap::new(),
            replaced: Vec::new(),
        })
        .await?;
    }
    Ok(ImportReport {
        rows,
        days: days.len(),
        first,
        last,
    })
}
