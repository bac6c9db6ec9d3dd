//! `liverec validate`: every input file of a range of days against the data contract.

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::params;
use crate::storage::{Location, Storage};

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Input root (local path or s3:// URL).
    #[arg(long, default_value = "data/input")]
    input: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD (default: --from).
    #[arg(long)]
    to: Option<String>,
}

pub async fn run(args: ValidateArgs) -> Result<()> {
    let from = params::parse_date(&args.from).context("--from")?;
    let to = match args.to {
        Some(t) => params::parse_date(&t).context("--to")?,
        None => from,
    };
    let root = Storage::open(Location::parse(&args.input)?)?;
    let summary = crate::validate::validate_inputs(&root, from, to).await?;
    let mut missing_any = false;
    for t in &summary {
        let missing = if t.missing.is_empty() {
            String::new()
        } else {
            missing_any = true;
            let days: Vec<String> = t.missing.iter().map(|d| d.to_string()).collect();
            format!("  missing: {}", days.join(", "))
        };
        println!(
            "{:<14} {:>3} partition(s) {:>4} file(s) {:>12} rows{missing}",
            t.table, t.partitions, t.files, t.rows,
        );
    }
    if missing_any {
        bail!("some input days are missing under {}", root.loc);
    }
    println!("all files of {from}..{to} match the data contract");
    Ok(())
}
