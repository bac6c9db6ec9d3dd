//! Training and validation rows in memory, column-major: read from the samples partitions
//! of the chosen days through the engine, in a fixed order (day, user, anchor) so a run is
//! reproducible, optionally downsampled by a seeded hash of (user, anchor, day).

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use datafusion::prelude::{ParquetReadOptions, SessionContext, col, lit};

use super::FeatureList;
use super::columns;
use crate::layout;
use crate::params::date_to_days;
use crate::storage::Storage;

/// Null categorical value.
pub const NULL_CODE: u32 = u32::MAX;

/// A categorical column: codes into a dictionary of the values seen in this frame.
#[derive(Clone, Debug, Default)]
pub struct CatColumn {
    pub dict: Vec<String>,
    pub codes: Vec<u32>,
    index: HashMap<String, u32>,
}

impl CatColumn {
    fn push(&mut self, value: Option<String>) {
        let code = match value {
            None => NULL_CODE,
            Some(v) => match self.index.get(&v) {
                Some(c) => *c,
                None => {
                    let c = self.dict.len() as u32;
                    self.index.insert(v.clone(), c);
                    self.dict.push(v);
                    c
                }
            },
        };
        self.codes.push(code);
    }

    pub fn value(&self, row: usize) -> Option<&str> {
        match self.codes[row] {
            NULL_CODE => None,
            c => Some(self.dict[c as usize].as_str()),
        }
    }
}

/// Rows of one sample set.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub numeric: Vec<Vec<f64>>,
    pub categorical: Vec<CatColumn>,
    pub label: Vec<f64>,
    pub weight: Vec<f64>,
    pub user_id: Vec<i64>,
    pub anchor_id: Vec<i64>,
    pub dt: Vec<NaiveDate>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.label.len()
    }

    pub fn positives(&self) -> u64 {
        self.label.iter().filter(|y| **y == 1.0).count() as u64
    }
}

/// What to read.
pub struct ReadSpec<'a> {
    pub features: &'a FeatureList,
    pub label: &'a str,
    /// Sample-weight column, if the table has one.
    pub weight: Option<&'a str>,
    /// Keep a row when `sample_unit(seed, user_id, anchor_id, day) < rate`.
    pub rate: f64,
    pub seed: i64,
}

/// Reads the given days of a samples table.
pub async fn read_days(
    ctx: &SessionContext,
    table: &Storage,
    days: &[NaiveDate],
    spec: &ReadSpec<'_>,
) -> Result<Frame> {
    let mut frame = Frame {
        numeric: vec![Vec::new(); spec.features.numeric.len()],
        categorical: vec![CatColumn::default(); spec.features.categorical.len()],
        ..Frame::default()
    };
    let sample_unit = datafusion::execution::FunctionRegistry::udf(&ctx.state(), "sample_unit")
        .context("the sample_unit UDF is not registered")?;
    for day in days {
        let dir = table.at(&layout::partition(*day));
        let source = dir.loc.to_string();
        let df = ctx
            .read_parquet(dir.loc.dir_url(), ParquetReadOptions::default())
            .await
            .with_context(|| format!("reading {source}"))?;
        let names: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut wanted: Vec<&str> = vec!["user_id", "anchor_id", spec.label];
        wanted.extend(spec.weight);
        wanted.extend(spec.features.numeric.iter().map(String::as_str));
        wanted.extend(spec.features.categorical.iter().map(String::as_str));
        for name in &wanted {
            if !names.iter().any(|n| n == name) {
                bail!(
                    "{source}: no column `{name}` (the job's feature list names it; the samples have: {})",
                    names.join(", ")
                );
            }
        }
        let mut df = df.select_columns(&wanted)?;
        if spec.rate < 1.0 {
            let unit = sample_unit.call(vec![
                lit(spec.seed),
                col("user_id"),
                col("anchor_id"),
                lit(datafusion::common::ScalarValue::Date32(Some(date_to_days(
                    *day,
                )))),
            ]);
            df = df.filter(unit.lt(lit(spec.rate)))?;
        }
        let df = df.sort(vec![
            col("user_id").sort(true, false),
            col("anchor_id").sort(true, false),
        ])?;
        let batches = df
            .collect()
            .await
            .with_context(|| format!("reading {source}"))?;
        for batch in &batches {
            columns::ids(batch, "user_id", &source, &mut frame.user_id)?;
            columns::ids(batch, "anchor_id", &source, &mut frame.anchor_id)?;
            columns::label(batch, spec.label, &source, &mut frame.label)?;
            match spec.weight {
                Some(w) => columns::weight(batch, w, &source, &mut frame.weight)?,
                None => frame
                    .weight
                    .extend(std::iter::repeat_n(1.0, batch.num_rows())),
            }
            for (j, name) in spec.features.numeric.iter().enumerate() {
                columns::numeric(batch, name, &source, &mut frame.numeric[j])?;
            }
            for (j, name) in spec.features.categorical.iter().enumerate() {
                for v in columns::strings(batch, name, &source)? {
                    frame.categorical[j].push(v);
                }
            }
            frame.dt.extend(std::iter::repeat_n(*day, batch.num_rows()));
        }
    }
    Ok(frame)
}
