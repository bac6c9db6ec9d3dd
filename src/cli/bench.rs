//! `liverec bench`: the daily workflow's jobs measured, against DuckDB.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::generator::Scale;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "small")]
    scale: Scale,
    /// Where data is generated (reused when present) and outputs written.
    #[arg(long, default_value = "bench-data")]
    data: PathBuf,
    /// Run the jobs on a cluster (df://HOST:PORT).
    #[arg(long)]
    cluster: Option<String>,
    /// Python for the DuckDB peer (default: $LIVEREC_PYTHON, else python3; without the duckdb
    /// package the peer installs it into a venv of its own); `none` skips the peer.
    #[arg(long, env = "LIVEREC_PYTHON", default_value = "python3")]
    python: String,
    /// The peer script.
    #[arg(long, default_value = "bench/duckdb_peer.py")]
    peer_script: PathBuf,
    /// Skip the three model-training jobs.
    #[arg(long)]
    no_models: bool,
    /// Run each job compared with DuckDB (and the peer's side of it) this many times and
    /// report the median: one run of a 30 ms job on a shared machine is mostly noise.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=50))]
    repeat: u16,
    /// Also write the report here (it is always written to DATA/SCALE/bench.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Measure the cluster's scale-out instead: item-CF and the training set embedded, then
    /// on 1 and 2 executors of this binary, each pinned to a core (taskset), one task slot each.
    #[arg(long)]
    scale_out: bool,
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let scale_name = format!("{:?}", args.scale).to_lowercase();
    let opts = crate::bench::BenchOptions {
        scale: args.scale,
        scale_out: args.scale_out,
        scale_name: scale_name.clone(),
        data: args.data.clone(),
        cluster: args.cluster,
        python: Some(args.python).filter(|p| p != "none"),
        peer_script: args.peer_script,
        models: !args.no_models,
        repeat: args.repeat as usize,
    };
    let report = tokio::task::spawn_blocking(move || crate::bench::run(&opts)).await??;
    crate::bench::print(&report);
    let text = serde_json::to_vec_pretty(&report)?;
    let path = args.data.join(&scale_name).join("bench.json");
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(extra) = args.json {
        std::fs::write(&extra, &text)
            .with_context(|| format!("cannot write {}", extra.display()))?;
    }
    println!("report: {}", path.display());
    Ok(())
}
