//! `liverec sql`: ad-hoc SQL over every input and output table.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::EngineArgs;
use crate::adhoc;
use crate::storage::{Location, Storage};

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// Input root (the event logs).
    #[arg(long, default_value = "data/input")]
    input: String,
    /// Output root (liverec's tables).
    #[arg(long, default_value = "data/output")]
    output: String,
    /// Run this statement.
    #[arg(short = 'e', long = "execute", conflicts_with = "file")]
    execute: Option<String>,
    /// Run the statement in this file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    format: adhoc::Format,
    /// File for --format parquet.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows shown in the table view.
    #[arg(long, default_value_t = 40)]
    limit: usize,
    /// Allow statements that create, change or drop tables.
    #[arg(long)]
    allow_write: bool,
    /// Print CREATE EXTERNAL TABLE statements for every table (for datafusion-cli) and exit.
    #[arg(long)]
    ddl: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub async fn run(args: SqlArgs) -> Result<()> {
    let ctx = crate::engine::new_context(&args.engine.options()?).await?;
    // Ad-hoc queries read raw input, where a float column may hold NaN: DataFusion 55 would
    // read it as the file's min (= max) statistic (docs/data-quality.md).
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .execution
        .collect_statistics = false;
    let input = Storage::open(Location::parse(&args.input)?)?;
    let output = Storage::open(Location::parse(&args.output)?)?;
    let tables = adhoc::register_all(&ctx, &input, &output).await?;
    if args.ddl {
        print!("{}", adhoc::ddl(&tables));
        return Ok(());
    }
    let opts = adhoc::QueryOptions {
        allow_write: args.allow_write,
        format: args.format,
        out: args.out,
        limit: args.limit,
    };
    let statement = match (args.execute, args.file) {
        (Some(q), _) => Some(q),
        (None, Some(f)) => Some(
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        (None, None) => None,
    };
    match statement {
        Some(q) => adhoc::run_query(&ctx, q.trim().trim_end_matches(';'), &opts).await,
        None => adhoc::repl(&ctx, &tables, &opts).await,
    }
}
