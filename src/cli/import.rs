//! `liverec import-interactions`: generic user-item interactions as `item_events`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::storage::{Location, Storage};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A local file: .parquet, or delimited text with a header row.
    #[arg(long)]
    source: PathBuf,
    /// Input root to write item_events into (local path or s3:// URL).
    #[arg(long, default_value = "data/input")]
    input: String,
    /// Field separator of a text file (one character; `tab` for a tab).
    #[arg(long, default_value = ",")]
    delimiter: String,
    #[arg(long, default_value = "user_id")]
    user_col: String,
    #[arg(long, default_value = "item_id")]
    item_col: String,
    /// Seconds since 1970-01-01 UTC.
    #[arg(long, default_value = "timestamp")]
    time_col: String,
    /// The weight of an interaction (rating, count, seconds); without it every row weighs 1.
    #[arg(long)]
    weight_col: Option<String>,
}

pub async fn run(args: ImportArgs) -> Result<()> {
    let delimiter = match args.delimiter.as_str() {
        "tab" | "\\t" | "\t" => b'\t',
        d if d.len() == 1 => d.as_bytes()[0],
        d => bail!("--delimiter {d:?}: one character, or `tab`"),
    };
    let spec = crate::import::ImportSpec {
        source: args.source,
        delimiter,
        user_col: args.user_col,
        item_col: args.item_col,
        time_col: args.time_col,
        weight_col: args.weight_col,
    };
    let out = Storage::open(Location::parse(&args.input)?)?;
    let done = crate::import::import(&spec, &out).await?;
    println!(
        "imported {} interactions into {} days {}..{} of {}",
        done.rows,
        done.days,
        done.first,
        done.last,
        out.at(crate::contract::ITEM_EVENTS.name).loc
    );
    Ok(())
}
