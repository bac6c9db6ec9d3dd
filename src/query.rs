//! Running the project's SQL: a query file from `sql/` with typed placeholder values (never
//! spliced text), and the hive-partitioned tables the queries read.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{Days, NaiveDate};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::params::{self, Params};
use crate::project;
use crate::storage::Storage;

/// Typed values for a query's `$name` placeholders.
pub type Placeholders = HashMap<String, ScalarValue>;

/// Runs a query file from `sql/` with typed placeholder values. Job queries only read: no
/// DDL, DML or SET statements.
pub async fn query(
    ctx: &SessionContext,
    sql_path: &str,
    values: &Placeholders,
) -> Result<DataFrame> {
    let text = project::read(&format!("sql/{sql_path}"))?;
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

/// `date` moved by `offset` days.
pub fn shift(date: NaiveDate, offset: i64) -> Result<NaiveDate> {
    let shifted = if offset >= 0 {
        date.checked_add_days(Days::new(offset as u64))
    } else {
        date.checked_sub_days(Days::new(offset.unsigned_abs()))
    };
    shifted.with_context(|| format!("{date} {offset:+} days is out of range"))
}

/// Placeholder values of a job's queries: every parameter, `$date`, and `$day_start` /
/// `$day_end` (UTC timestamps bounding the day).
pub fn job_placeholders(params: &Params, date: NaiveDate) -> Result<Placeholders> {
    let mut values: Placeholders = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_scalar()))
        .collect();
    values.insert(
        "date".into(),
        ScalarValue::Date32(Some(params::date_to_days(date))),
    );
    values.insert(
        "day_start".into(),
        utc_micros(params::day_start_micros(date)),
    );
    values.insert(
        "day_end".into(),
        utc_micros(params::day_start_micros(shift(date, 1)?)),
    );
    Ok(values)
}

/// A UTC timestamp placeholder.
pub fn utc_micros(micros: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()))
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

/// These Parquet files (URLs), and no others, as one table.
pub fn parquet_files_table(urls: &[String], schema: SchemaRef) -> Result<Arc<ListingTable>> {
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let paths = urls
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(paths)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// A value of a one-row result as JSON (checks record their counts this way).
pub fn scalar_to_json(v: &ScalarValue) -> serde_json::Value {
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
