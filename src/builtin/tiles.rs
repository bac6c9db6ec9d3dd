//! Daily tiles before profiles: the input days of a set of label days' profile windows,
//! built once by the SQL job `tiles` with the profiles' parameters (`runner::ensure_days`:
//! reused when current, rebuilt when an input day changed, all rebuilt with `force`).

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};

use crate::runner::{OutputReport, RunRequest, ensure_days};

const TILES_JOB: &str = "tiles";

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
/// was written. `args` are the profiles' parameters.
pub async fn ensure_tiles(
    req: &RunRequest,
    days: &[NaiveDate],
    args: &[(String, String)],
    force: bool,
) -> Result<Vec<OutputReport>> {
    ensure_days(req, TILES_JOB, days, args, force).await
}
