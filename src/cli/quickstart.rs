//! `liverec quickstart`: demo data, the daily workflow on it, and where everything is.

use anyhow::Result;
use chrono::{Days, NaiveDate};
use clap::Args;
use datafusion::arrow::util::pretty::pretty_format_batches;

use super::args::EngineArgs;
use crate::generator::{self, GenConfig, Scale};
use crate::layout;
use crate::storage::{Location, Storage};
use crate::workflow::run::{WorkflowRequest, run_day};

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Directory for the demo data (input/ and output/ are created inside).
    #[arg(long, default_value = "data")]
    dir: String,
    #[command(flatten)]
    engine: EngineArgs,
}

pub async fn run(args: QuickstartArgs) -> Result<()> {
    let dir = Location::parse(&args.dir)?;
    let input = dir.join("input");
    let output = dir.join("output");
    let (users, anchors, _) = Scale::Small.preset();
    // 16 days: a 14-day item-CF window, 7-day profiles, and a next day to evaluate against.
    let days = 16;
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let cfg = GenConfig {
        start,
        days,
        users,
        anchors,
        seed: 42,
    };
    println!("generating demo data ({users} users, {anchors} anchors, {days} days) into {input}");
    generator::generate(&cfg, &Storage::open(input.clone())?).await?;
    // The newest day: the daily workflow trains on the days before it and validates on it.
    let day = start + Days::new(days as u64 - 1);
    let engine = args.engine.options()?;
    let req = WorkflowRequest {
        workflow: "daily".into(),
        date: day,
        input: input.clone(),
        output: output.clone(),
        engine: engine.clone(),
        force: false,
        break_lock: false,
        overrides: Vec::new(),
        task_timeout_s: None,
    };
    let st = run_day(&req).await?;
    for (_, t) in &st.tasks {
        for line in &t.printed {
            println!("{line}");
        }
    }
    println!();

    let ctx = crate::engine::new_context(&engine).await?;
    let heat = output.join("heat").join(&layout::partition(day));
    ctx.register_parquet("heat", heat.dir_url(), Default::default())
        .await?;
    let top = ctx
        .sql("SELECT rank, anchor_id, category, viewers, gifters, interactors, heat FROM heat ORDER BY rank LIMIT 10")
        .await?
        .collect()
        .await?;
    println!(
        "top anchors by heat on {day}:\n{}",
        pretty_format_batches(&top)?
    );
    println!("\ninputs:  {input}\noutputs: {output}");
    println!(
        "  heat/, itemcf_sim/, candidates/: dt={day} (and the day before)\n  \
         samples/, exposure_samples/, *_profile/: the 7 label days up to {day}\n  \
         training_sets/end={day}/manifest.json; recall of the day before's candidates: metrics/recall/\n  \
         models/lr|gbdt|gbdt_lr/LATEST -> the published version (model.json, report.html, …)\n  \
         runs/daily/dt={day}/report.html: the run report\n\nrerun the day: liverec workflow run daily --date {day} --input {input} --output {output} (every task is skipped)"
    );
    Ok(())
}
