//! Daily tiles before profiles: `ensure_tiles` makes sure every input day a set of label
//! days' profile windows covers has its tiles (the SQL job `tiles`), built with the profiles'
//! parameters, so each input day is read once however many windows share it. A tile day is
//! reused when all its tables are committed with the same parameters and no file of its
//! input days changed since (late data rebuilds that day's tiles); `force` rebuilds them.

use anyhow::{Context, Result};
use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::job::JobSpec;
use crate::layout;
use crate::runner::{self, OutputReport, RunRequest};
use crate::storage::Storage;
use crate::writer::read_manifest;

use super::training_set::up_to_date;

pub const TILES_JOB: &str = "tiles";

/// The tile tables, all written by one run of `tiles` for a day.
const TILE_TABLES: &[&str] = &[
    "tile_watches",
    "tile_last_watches",
    "tile_interactions",
    "tile_user_exposures",
    "tile_anchor_exposures",
];

/// The input tables the tiles summarize.
const TILED_INPUTS: &[&str] = &["watches", "interactions", "exposures"];

/// The input days of the profile windows of `label_days` (`profile_days` before each).
pub fn window_days(label_days: &[NaiveDate], profile_days: u64) -> Result<Vec<NaiveDate>> {
    let (Some(first), Some(last)) = (label_days.first(), label_days.last()) else {
        return Ok(Vec::new());
    };
    let from = first
        .checked_sub_days(Days::new(profile_days))
        .context("profile window out of range")?;
    Ok(from.iter_days().take_while(|d| d < last).collect())
}

/// Builds the tiles of each of `days` that has input and no current tiles; returns what
/// was written. `args` are the profiles' parameters (each passed when `tiles` declares it).
pub async fn ensure_tiles(
    req: &RunRequest,
    days: &[NaiveDate],
    args: &[(String, String)],
    force: bool,
) -> Result<Vec<OutputReport>> {
    let job = JobSpec::load(TILES_JOB)?;
    let tile_args: Vec<(String, String)> = args
        .iter()
        .filter(|(k, _)| job.params.contains_key(k) && k != "max_missing_days")
        .cloned()
        .collect();
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    let mut outputs = Vec::new();
    let (mut built, mut reused) = (0, 0);
    for &day in days {
        let Some(newest_input) = newest_input_file(&input, day).await? else {
            continue; // no input that day: no tiles, the profiles count the day missing
        };
        if !force && current(&output, day, &tile_args, &job, newest_input).await? {
            reused += 1;
            continue;
        }
        let report = runner::run(&RunRequest {
            job: job.clone(),
            date: day,
            input: req.input.clone(),
            output: req.output.clone(),
            overrides: tile_args.clone(),
            engine: req.engine.clone(),
        })
        .await
        .with_context(|| format!("building the tiles of {day}"))?;
        outputs.extend(report.outputs);
        built += 1;
    }
    tracing::info!(built, reused, "daily tiles");
    Ok(outputs)
}

/// The newest modification time among the day's input files, or None without input.
async fn newest_input_file(input: &Storage, day: NaiveDate) -> Result<Option<DateTime<Utc>>> {
    let mut newest = None;
    for table in TILED_INPUTS {
        let part = input.at(table).at(&layout::partition(day));
        for meta in part.list_parquet_files().await? {
            newest = newest.max(Some(meta.last_modified));
        }
    }
    Ok(newest)
}

/// Whether every tile table of `day` is committed with these parameters after the newest
/// input file of the day was written.
async fn current(
    output: &Storage,
    day: NaiveDate,
    args: &[(String, String)],
    job: &JobSpec,
    newest_input: DateTime<Utc>,
) -> Result<bool> {
    for table in TILE_TABLES {
        let table = output.at(table);
        if !up_to_date(&table, day, args, job).await? {
            return Ok(false);
        }
        let manifest = read_manifest(&table, day).await?.context("committed")?;
        if manifest.created_at <= newest_input {
            return Ok(false);
        }
    }
    Ok(true)
}
