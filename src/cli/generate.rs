//! `liverec generate`: a synthetic platform's event logs.

use anyhow::Result;
use clap::Args;

use crate::generator::{self, GenConfig, Scale};
use crate::params;
use crate::storage::{Location, Storage};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Where to write the tables (local path or URL); tables go to <out>/<table>/dt=D/.
    #[arg(long)]
    out: String,
    /// Size preset; --users/--anchors/--days override it.
    #[arg(long, value_enum, default_value = "small")]
    scale: Scale,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-01")]
    start: String,
    #[arg(long)]
    days: Option<u32>,
    #[arg(long)]
    users: Option<u32>,
    #[arg(long)]
    anchors: Option<u32>,
    /// Random seed: the same seed gives identical data files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub async fn run(args: GenerateArgs) -> Result<()> {
    let (users, anchors, days) = args.scale.preset();
    let cfg = GenConfig {
        start: params::parse_date(&args.start)?,
        days: args.days.unwrap_or(days),
        users: args.users.unwrap_or(users),
        anchors: args.anchors.unwrap_or(anchors),
        seed: args.seed,
    };
    let out = Storage::open(Location::parse(&args.out)?)?;
    let report = generator::generate(&cfg, &out).await?;
    println!(
        "generated {} day(s) from {} into {}",
        cfg.days, cfg.start, out.loc
    );
    for (table, rows) in &report.rows {
        println!("  {table:<14} {rows:>12} rows");
    }
    Ok(())
}
