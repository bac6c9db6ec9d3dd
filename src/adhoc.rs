//! `liverec sql`: ad-hoc SQL over every input and output table, embedded or on the cluster.
//! Tables are registered with their `dt` partition column, so a filter on `dt` reads only the
//! partitions it needs; only committed partitions exist for readers (staging lives outside
//! the table directories). Read-only unless `--allow-write`.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::contract::{self, INPUT_TABLES};
use crate::layout;
use crate::storage::{Location, Storage};

/// Output formats of query results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

/// A table the session knows: name, location, schema.
pub struct Registered {
    pub name: String,
    pub location: Location,
    pub schema: SchemaRef,
}

/// Registers the six input tables (contract schemas) and every output table found under the
/// output root (schema of its newest partition), each with `dt DATE` as partition column.
pub async fn register_all(
    ctx: &SessionContext,
    input: &Storage,
    output: &Storage,
) -> Result<Vec<Registered>> {
    let mut out = Vec::new();
    for root in [input, output] {
        ctx.register_object_store(&root.loc.store_url(), root.store.clone());
    }
    // The platform's tables, and generic item events where they were imported.
    for c in INPUT_TABLES.iter().chain(contract::GENERIC_TABLES.iter()) {
        let table = input.at(c.name);
        if table.list_partitions().await?.is_empty() {
            continue;
        }
        out.push(register(ctx, c.name, &table, c.schema())?);
    }
    let listing = output
        .store
        .list_with_delimiter(Some(&output.loc.store_path()))
        .await
        .with_context(|| format!("cannot list {}", output.loc))?;
    let mut names: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
        .collect();
    names.sort();
    // Quarantined rows, per input table: `quarantine_<table>` (with reason and source file).
    let quarantine = output.at(layout::QUARANTINE);
    for c in INPUT_TABLES.iter().chain(contract::GENERIC_TABLES.iter()) {
        let table = quarantine.at(c.name);
        if let Some(schema) = newest_schema(&table).await? {
            out.push(register(
                ctx,
                &format!("quarantine_{}", c.name),
                &table,
                schema,
            )?);
        }
    }
    for name in names {
        if contract::input_table(&name).is_some() && out.iter().any(|r| r.name == name) {
            continue;
        }
        let table = output.at(&name);
        // None: not a dt-partitioned table (metrics/, training_sets/, …).
        if let Some(schema) = newest_schema(&table).await? {
            out.push(register(ctx, &name, &table, schema)?);
        }
    }
    Ok(out)
}

/// The schema of a dt-partitioned table, from a file of its newest partition.
async fn newest_schema(table: &Storage) -> Result<Option<SchemaRef>> {
    let Some(newest) = table.list_partitions().await?.last().copied() else {
        return Ok(None);
    };
    let part = table.at(&layout::partition(newest));
    let Some(file) = part.list_parquet_files().await?.into_iter().next() else {
        return Ok(None);
    };
    let label = part
        .loc
        .join(file.location.filename().unwrap_or_default())
        .to_string();
    let footer = contract::read_footer(part.store.clone(), &file, &label).await?;
    Ok(Some(footer.schema))
}

fn register(
    ctx: &SessionContext,
    name: &str,
    table: &Storage,
    schema: SchemaRef,
) -> Result<Registered> {
    ctx.register_table(name, crate::query::dt_table(table, schema.clone())?)?;
    Ok(Registered {
        name: name.to_string(),
        location: table.loc.clone(),
        schema,
    })
}

/// `CREATE EXTERNAL TABLE` statements for the registered tables (for datafusion-cli).
pub fn ddl(tables: &[Registered]) -> String {
    let mut out = String::new();
    for t in tables {
        let columns: Vec<String> = t
            .schema
            .fields()
            .iter()
            .map(|f| format!("  \"{}\" {}", f.name(), sql_type(f.data_type())))
            .collect();
        out.push_str(&format!(
            "CREATE EXTERNAL TABLE \"{}\" (\n{},\n  dt DATE\n) STORED AS PARQUET PARTITIONED BY (dt) LOCATION '{}';\n\n",
            t.name,
            columns.join(",\n"),
            t.location.dir_url()
        ));
    }
    out
}

fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::List(f) => format!("{}[]", sql_type(f.data_type())),
        other => other.to_string(),
    }
}

pub struct QueryOptions {
    pub allow_write: bool,
    pub format: Format,
    pub out: Option<std::path::PathBuf>,
    /// Rows shown in the table view.
    pub limit: usize,
}

/// Runs one statement and prints (or writes) its result.
pub async fn run_query(ctx: &SessionContext, sql: &str, opts: &QueryOptions) -> Result<()> {
    let options = SQLOptions::new()
        .with_allow_ddl(opts.allow_write)
        .with_allow_dml(opts.allow_write)
        .with_allow_statements(false);
    let df = match ctx.sql_with_options(sql, options).await {
        Ok(df) => df,
        Err(e) => {
            let text = e.to_string();
            if !opts.allow_write
                && (text.contains("DDL not supported") || text.contains("DML not supported"))
            {
                bail!(
                    "{} (read-only: pass --allow-write to change tables)",
                    text.trim()
                );
            }
            return Err(e.into());
        }
    };
    let batches = df.collect().await?;
    print(&batches, opts)
}

fn print(batches: &[RecordBatch], opts: &QueryOptions) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match opts.format {
        Format::Table => {
            let total: usize = batches.iter().map(|b| b.num_rows()).sum();
            let mut shown = Vec::new();
            let mut left = opts.limit;
            for b in batches {
                if left == 0 {
                    break;
                }
                let take = b.num_rows().min(left);
                shown.push(b.slice(0, take));
                left -= take;
            }
            use std::io::Write;
            writeln!(
                stdout,
                "{}",
                arrow::util::pretty::pretty_format_batches(&shown)?
            )?;
            if total > opts.limit {
                writeln!(
                    stdout,
                    "({total} rows, showing the first {}; use --limit or --format)",
                    opts.limit
                )?;
            } else {
                writeln!(stdout, "({total} rows)")?;
            }
        }
        Format::Csv => {
            let mut w = arrow::csv::Writer::new(stdout);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(stdout);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let path = opts
                .out
                .as_ref()
                .context("--format parquet needs --out FILE")?;
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let schema = batches
                .first()
                .map(|b| b.schema())
                .context("the query returned no batches")?;
            let mut w = parquet::arrow::ArrowWriter::try_new(
                file,
                schema,
                Some(crate::parquet_file::writer_properties()),
            )?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The interactive prompt: statements end with `;`, `\d` lists tables, `\d NAME` shows a
/// schema, `\q` quits; history is kept in ~/.liverec_history.
pub async fn repl(ctx: &SessionContext, tables: &[Registered], opts: &QueryOptions) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("no query: pass -e QUERY or -f FILE (the prompt needs a terminal)");
    }
    let mut editor = rustyline::DefaultEditor::new()?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".liverec_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "liverec sql: {} tables; end statements with ';', \\d lists tables, \\q quits",
        tables.len()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "liverec> "
        } else {
            "      -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(_) => break,
        };
        let trimmed = line.trim();
        if trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match trimmed.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["\\q"] => break,
                ["\\d"] => {
                    for t in tables {
                        println!("{:<24} {}", t.name, t.location);
                    }
                }
                ["\\d", name] => match tables.iter().find(|t| t.name == *name) {
                    Some(t) => {
                        for f in t.schema.fields() {
                            println!("  {:<28} {}", f.name(), f.data_type());
                        }
                        println!("  {:<28} Date32 (partition)", "dt");
                    }
                    None => println!("no table {name}"),
                },
                _ => println!("unknown command {trimmed}"),
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let statement = std::mem::take(&mut buffer);
            let _ = editor.add_history_entry(statement.trim());
            if let Err(e) = run_query(ctx, statement.trim().trim_end_matches(';'), opts).await {
                eprintln!("error: {}", crate::error::error_chain(&e));
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
