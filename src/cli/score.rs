//! `liverec score`: the reference scorer over Parquet rows.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// A model version folder, or a model folder whose LATEST is used
    /// (e.g. data/output/models/gbdt or s3://artifacts/liverec/models/gbdt).
    #[arg(long)]
    model: String,
    /// A Parquet file or a folder of them with the model's feature columns.
    #[arg(long)]
    input: PathBuf,
    /// Parquet file to write: dt, user_id, anchor_id, label (those present) and score.
    #[arg(long)]
    output: PathBuf,
}

pub async fn run(args: ScoreArgs) -> Result<()> {
    let summary = crate::model::score::run(&args.model, &args.input, &args.output).await?;
    println!(
        "scored {} rows with {} -> {}",
        summary.rows,
        summary.version_dir,
        args.output.display()
    );
    Ok(())
}
