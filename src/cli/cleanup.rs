//! `liverec cleanup`: what interrupted runs left under an output root.

use anyhow::Result;
use clap::Args;

use crate::storage::{Location, Storage};

#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// Output root (local path or s3:// URL).
    #[arg(long)]
    output: String,
    /// Leave staging objects and files no manifest lists alone while younger than this.
    #[arg(long, default_value_t = 60)]
    min_age_minutes: u32,
    /// Object stores: keep the files of a replaced version this long after the commit that
    /// replaced it, for readers still reading that version.
    #[arg(long, default_value_t = 60)]
    retention_minutes: u32,
}

pub async fn run(args: CleanupArgs) -> Result<()> {
    let root = Storage::open(Location::parse(&args.output)?)?;
    let ages = crate::writer::Ages {
        min_age: chrono::Duration::minutes(args.min_age_minutes.into()),
        retention: chrono::Duration::minutes(args.retention_minutes.into()),
    };
    let done = crate::writer::cleanup(&root, ages).await?;
    println!(
        "removed {} staging object(s), {} uncommitted and {} replaced data file(s), {} interrupted upload file(s) under {}; left {} younger than {} min (replaced: {} min)",
        done.staging,
        done.unreferenced,
        done.replaced,
        done.uploads,
        root.loc,
        done.recent,
        args.min_age_minutes,
        args.retention_minutes
    );
    Ok(())
}
