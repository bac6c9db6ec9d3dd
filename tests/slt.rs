//! SQL behaviour as data: every `tests/slt/*.slt` file runs against a session built like the
//! jobs' own (`engine::session_state`: same config, same UDFs), in seconds and without the
//! CLI. The contract's input tables exist, empty, with their exact schemas plus `dt`; a file
//! fills them with `INSERT`. One statement of the harness's own runs a query file of `sql/`:
//!
//! ```text
//! RUN <job> <file under sql/> DATE <YYYY-MM-DD> [key=value …] [AS <table>]
//! ```
//!
//! with the job's declared parameters (defaults, then the given values, typed and validated
//! by the job file, as `liverec run` does), `$date` and the day's bounds (for the `quality`
//! job: the row rules' own placeholders, as the data-quality check binds them). `AS <table>` keeps
//! the result as a table for later statements (a job's views, or another job's output).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use liverec::engine::{self, EngineOptions};
use liverec::job::JobSpec;
use liverec::params::{self, ParamValue};
use liverec::quality::{self, QualityParams};
use liverec::query;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(e: impl std::fmt::Display) -> Error {
    Error(format!("{e:#}"))
}

struct Liverec {
    ctx: SessionContext,
}

impl Liverec {
    fn new() -> Result<Self, Error> {
        let opts = EngineOptions {
            target_partitions: Some(2),
            ..Default::default()
        };
        let state = engine::session_state(
            engine::session_config(&opts),
            engine::runtime_env(&opts).map_err(err)?,
        )
        .map_err(err)?;
        let ctx = SessionContext::new_with_state(state);
        for c in liverec::contract::INPUT_TABLES
            .iter()
            .chain(liverec::contract::GENERIC_TABLES.iter())
        {
            let mut fields: Vec<Field> = c
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("dt", DataType::Date32, false));
            let table =
                MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]]).map_err(err)?;
            ctx.register_table(c.name, Arc::new(table)).map_err(err)?;
        }
        Ok(Self { ctx })
    }

    /// `RUN job file DATE day [k=v …] [AS table]`.
    async fn run_query_file(&self, statement: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let mut words = statement.split_whitespace().skip(1);
        let usage = || {
            err(format!(
                "expected RUN <job> <sql file> DATE <day> [k=v …] [AS <table>]: {statement}"
            ))
        };
        let job = JobSpec::load(words.next().ok_or_else(usage)?).map_err(err)?;
        let file = words.next().ok_or_else(usage)?.to_string();
        if words.next() != Some("DATE") {
            return Err(usage());
        }
        let date = params::parse_date(words.next().ok_or_else(usage)?).map_err(err)?;
        let mut overrides = Vec::new();
        let mut keep_as = None;
        while let Some(w) = words.next() {
            if w == "AS" {
                keep_as = Some(words.next().ok_or_else(usage)?.to_string());
            } else {
                overrides.push(params::parse_override(w).map_err(err)?);
            }
        }
        let mut bound = params::bind(&job.params, &overrides).map_err(err)?;
        bound.insert("date".into(), ParamValue::Date(date));
        // The row rules take the data-quality check's own placeholders.
        let values = if job.name == liverec::job::QUALITY_JOB {
            let qp = QualityParams::from_params(&bound).map_err(err)?;
            quality::rule_placeholders(date, &qp).map_err(err)?
        } else {
            query::job_placeholders(&bound, date).map_err(err)?
        };
        let df = query::query(&self.ctx, &file, &values).await.map_err(err)?;
        if let Some(name) = keep_as {
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(err)?;
            let table = MemTable::try_new(schema, vec![batches]).map_err(err)?;
            self.ctx.deregister_table(name.as_str()).map_err(err)?;
            self.ctx
                .register_table(name.as_str(), Arc::new(table))
                .map_err(err)?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let batches = df.collect().await.map_err(err)?;
        rows(&batches)
    }
}

/// Result rows as text: NULL for nulls, `(empty)` for empty strings.
fn rows(batches: &[RecordBatch]) -> Result<DBOutput<DefaultColumnType>, Error> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    let mut width = 0;
    for b in batches {
        width = b.num_columns();
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        for i in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(i).to_string();
                        if s.is_empty() {
                            "(empty)".to_string()
                        } else {
                            s
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(DBOutput::Rows {
        types: vec![DefaultColumnType::Any; width],
        rows: out,
    })
}

#[async_trait::async_trait]
impl AsyncDB for Liverec {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        if sql.trim_start().starts_with("RUN ") {
            return self.run_query_file(sql).await;
        }
        let df = self.ctx.sql(sql).await.map_err(err)?;
        let batches = df.collect().await.map_err(err)?;
        let is_query = sql.trim_start().to_ascii_uppercase().starts_with("SELECT")
            || sql.trim_start().to_ascii_uppercase().starts_with("WITH");
        if is_query {
            rows(&batches)
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }

    fn engine_name(&self) -> &str {
        "liverec"
    }

    async fn shutdown(&mut self) {}
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_files_behave_as_their_slt_files_say() {
    let files = slt_files();
    assert!(files.len() >= 5, "slt files: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { Liverec::new() });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
