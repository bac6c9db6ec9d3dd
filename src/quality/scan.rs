//! Reading a day of an input table for its check: the raw rows of every file (nullable,
//! with the file name), counts by reason, a sample of the quarantined rows, and the first
//! unreadable file of a partition.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::functions_aggregate::expr_fn::{count, min};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::StreamExt;

use super::DayInput;
use crate::doc::quality::DayQuality;

/// The job's context without file statistics. Parquet min/max leave NaN out, and DataFusion
/// 55 takes a column whose min equals its max in a file for a constant (`constant_columns_
/// from_stats` in its Parquet opener): a NaN among 1.0s is read back as 1.0 — exactly the
/// values this check must see (apache/datafusion PR 24804 describes the class of bug).
pub(super) fn scan_context(ctx: &SessionContext) -> SessionContext {
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
pub(super) async fn raw_frame(ctx: &SessionContext, input: &DayInput<'_>) -> Result<DataFrame> {
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

/// The first file of the partition whose rows cannot be read, as an error naming it.
pub(super) async fn unreadable_file(
    ctx: &SessionContext,
    input: &DayInput<'_>,
) -> Option<anyhow::Error> {
    for meta in input.files {
        let one = DayInput {
            contract: input.contract,
            partition: input.partition,
            day: input.day,
            files: std::slice::from_ref(meta),
            cluster: input.cluster.clone(),
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

/// Rows, quarantined rows by reason (with the first file of each) and tolerated anomalies.
pub(super) async fn count_reasons(annotated: DataFrame) -> Result<DayQuality> {
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
pub(super) async fn sample_rows(
    annotated: DataFrame,
    per_reason: usize,
) -> Result<Vec<RecordBatch>> {
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

/// Up to `per_reason` quarantined rows of each reason (the first by file), as a query the
/// cluster's executors run and write.
pub(super) fn sample_frame(annotated: DataFrame, per_reason: usize) -> Result<DataFrame> {
    use datafusion::functions_window::expr_fn::row_number;
    use datafusion::logical_expr::ExprFunctionExt;
    let columns: Vec<String> = annotated
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let rank = row_number()
        .partition_by(vec![col("reason")])
        .order_by(vec![col("_file").sort(true, false)])
        .build()?
        .alias("__sample_rank");
    let sampled = annotated
        .filter(col("reason").is_not_null())?
        .window(vec![rank])?
        .filter(col("__sample_rank").lt_eq(lit(per_reason as u64)))?;
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    Ok(sampled.select_columns(&names)?)
}
