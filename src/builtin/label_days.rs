//! How a training set builds its label days and their tiles on a few slots at once.
//!
//! Every label day runs the SQL jobs `profiles` and `samples` over the tiles of its window.
//! With `parallel` slots and M label days, M mod `parallel` of them would run alone at the
//! end, leaving slots idle; instead those lead days start as soon as their own windows'
//! tiles exist and run beside the building of the other tiles, and the rest divide evenly
//! (`Plan`). A free slot always takes the next piece of work in the plan's order.

use std::collections::{BTreeSet, VecDeque};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::job::JobSpec;
use crate::runner::{self, OutputReport, RunRequest};

use super::tiles;

/// The order of a training set's work.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// Tiles built first, two days at once on all cores: the windows of the lead days (all
    /// tile days when there are none).
    pub first_tiles: Vec<NaiveDate>,
    /// Label days started as soon as the first tiles exist.
    pub lead: Vec<NaiveDate>,
    /// The other tile days, a slot each, beside the lead days.
    pub later_tiles: Vec<NaiveDate>,
    /// The other label days, after every tile.
    pub rest: Vec<NaiveDate>,
}

impl Plan {
    /// The plan for `label_days` (ascending) with windows of `profile_days` on `parallel`
    /// slots.
    pub fn new(label_days: &[NaiveDate], profile_days: u64, parallel: usize) -> Result<Plan> {
        let all_tiles = tiles::window_days(label_days, profile_days)?;
        let lead_count = label_days.len() % parallel.max(1);
        let (lead, rest) = label_days.split_at(lead_count);
        if lead.is_empty() {
            return Ok(Plan {
                first_tiles: all_tiles,
                lead: Vec::new(),
                later_tiles: Vec::new(),
                rest: rest.to_vec(),
            });
        }
        let first_tiles = tiles::window_days(lead, profile_days)?;
        let first: BTreeSet<NaiveDate> = first_tiles.iter().copied().collect();
        Ok(Plan {
            later_tiles: all_tiles
                .into_iter()
                .filter(|d| !first.contains(d))
                .collect(),
            first_tiles,
            lead: lead.to_vec(),
            rest: rest.to_vec(),
        })
    }
}

/// What the sub-jobs of a label day are given.
pub struct DayArgs {
    pub profile_args: Vec<(String, String)>,
    pub sample_args: Vec<(String, String)>,
    pub force: bool,
}

/// What building the plan wrote: the tiles' outputs, and per label day (ascending) its
/// outputs, or None when it was reused.
pub struct Built {
    pub tiles: Vec<OutputReport>,
    pub days: Vec<(NaiveDate, Option<Vec<OutputReport>>)>,
}

/// Builds the plan on `parallel` slots. Each run gets its share of the memory pool and of
/// the cores (with one partition per query, two days on two cores, the samples' joins keep
/// the order of their sorted pairs and the outputs need no sort of their wide rows:
/// sql/samples/pair_features.sql, docs/benchmarks.md). After a failure no new work starts,
/// the work under way finishes (its commits stay whole), and the first error is returned.
pub async fn build(
    req: &RunRequest,
    plan: &Plan,
    args: &DayArgs,
    parallel: usize,
) -> Result<Built> {
    let mut tile_outputs =
        tiles::ensure_tiles(req, &plan.first_tiles, &args.profile_args, args.force).await?;
    let mut sub = req.clone();
    sub.engine = req.engine.share(parallel);
    let queue: VecDeque<Work> = plan
        .lead
        .iter()
        .map(|d| Work::LabelDay(*d))
        .chain(plan.later_tiles.iter().map(|d| Work::Tiles(*d)))
        .chain(plan.rest.iter().map(|d| Work::LabelDay(*d)))
        .collect();
    let mut days = run_queue(&sub, queue, args, parallel, &plan.later_tiles).await?;
    tile_outputs.append(&mut days.tiles);
    // Lead and rest are the label days in ascending order.
    days.days.sort_by_key(|(d, _)| *d);
    Ok(Built {
        tiles: tile_outputs,
        days: days.days,
    })
}

/// One piece of work of a slot.
#[derive(Clone, Copy, Debug)]
enum Work {
    Tiles(NaiveDate),
    LabelDay(NaiveDate),
}

/// Runs `queue` in order on `parallel` slots: a new piece starts as soon as any running one
/// ends (waiting for the oldest left a slot idle while it finished). A label day whose window
/// holds a tile day of `tile_days` not yet built waits for it.
async fn run_queue(
    sub: &RunRequest,
    mut queue: VecDeque<Work>,
    args: &DayArgs,
    parallel: usize,
    tile_days: &[NaiveDate],
) -> Result<Built> {
    let mut unbuilt: BTreeSet<NaiveDate> = tile_days.iter().copied().collect();
    let mut running = FuturesUnordered::new();
    let mut built = Built {
        tiles: Vec::new(),
        days: Vec::new(),
    };
    let mut failure: Option<anyhow::Error> = None;
    loop {
        while failure.is_none() && running.len() < parallel.max(1) {
            let Some(&work) = queue.front() else {
                break;
            };
            if let Work::LabelDay(day) = work
                && unbuilt.range(..day).next().is_some()
            {
                // Its window's tiles are under way; the queue holds nothing else before it.
                break;
            }
            queue.pop_front();
            // A task of its own, so the plans of two runs are driven by different threads;
            // aborted if this run is dropped (a deadline or a signal), so none outlives it.
            running.push(AbortOnDrop(tokio::spawn(run_work(
                sub.clone(),
                work,
                args.profile_args.clone(),
                args.sample_args.clone(),
                args.force,
            ))));
        }
        match running.next().await {
            Some(Ok((Work::Tiles(day), result))) => match result {
                Ok(outputs) => {
                    unbuilt.remove(&day);
                    built.tiles.extend(outputs.unwrap_or_default());
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            },
            Some(Ok((Work::LabelDay(day), result))) => match result {
                Ok(outputs) => built.days.push((day, outputs)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            },
            Some(Err(joined)) => {
                failure.get_or_insert(anyhow::anyhow!(
                    "building a label or tile day failed: {joined}"
                ));
            }
            None => break,
        }
    }
    match failure {
        Some(e) => Err(e),
        None if !queue.is_empty() => anyhow::bail!("label days left unbuilt: {queue:?}"),
        None => Ok(built),
    }
}

/// Runs one piece of work; tiles always return their outputs (Some).
async fn run_work(
    sub: RunRequest,
    work: Work,
    profile_args: Vec<(String, String)>,
    sample_args: Vec<(String, String)>,
    force: bool,
) -> (Work, Result<Option<Vec<OutputReport>>>) {
    let result = match work {
        Work::Tiles(day) => tiles::ensure_tiles(&sub, &[day], &profile_args, force)
            .await
            .map(Some),
        Work::LabelDay(day) => build_label_day(&sub, day, &profile_args, &sample_args, force).await,
    };
    (work, result)
}

/// Runs `profiles` and `samples` for one label day, each unless its outputs are current
/// (committed with the same parameters from inputs that still hold the same files:
/// `runner::outputs_current`) or `force`: the daily workflow's `profiles_next_day` commits
/// tomorrow's profiles tonight, and tomorrow's label day only adds its samples; a rewritten
/// input day (or a tile day rebuilt from one) rebuilds the profiles and samples that read it.
/// Returns what was written, or None when both were reused.
async fn build_label_day(
    req: &RunRequest,
    day: NaiveDate,
    profile_args: &[(String, String)],
    sample_args: &[(String, String)],
    force: bool,
) -> Result<Option<Vec<OutputReport>>> {
    let sub = |job: JobSpec, args: &[(String, String)]| RunRequest {
        job,
        date: day,
        input: req.input.clone(),
        output: req.output.clone(),
        overrides: args.to_vec(),
        engine: req.engine.clone(),
    };
    let profiles = sub(JobSpec::load("profiles")?, profile_args);
    let samples = sub(JobSpec::load("samples")?, sample_args);
    let profiles_current = !force && runner::outputs_current(&profiles).await?;
    // Samples read the profiles' commits, so rebuilt profiles make them stale too.
    if profiles_current && runner::outputs_current(&samples).await? {
        return Ok(None);
    }
    let mut outputs = Vec::new();
    let runs = [profiles, samples];
    for run in runs.iter().skip(usize::from(profiles_current)) {
        let report = runner::run(run)
            .await
            .with_context(|| format!("building label day {day}"))?;
        outputs.extend(report.outputs);
    }
    Ok(Some(outputs))
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(from: &str, n: usize) -> Vec<NaiveDate> {
        let first: NaiveDate = from.parse().unwrap();
        first.iter_days().take(n).collect()
    }

    #[test]
    fn an_odd_label_day_runs_beside_the_later_tiles() {
        // 7 label days from 01-15, N = 7, two slots: 01-15 leads (its window 01-08..01-14
        // first), the tiles of 01-15..01-20 beside it, then six days in pairs.
        let plan = Plan::new(&days("2026-01-15", 7), 7, 2).unwrap();
        assert_eq!(plan.first_tiles, days("2026-01-08", 7));
        assert_eq!(plan.lead, days("2026-01-15", 1));
        assert_eq!(plan.later_tiles, days("2026-01-15", 6));
        assert_eq!(plan.rest, days("2026-01-16", 6));
    }

    #[test]
    fn label_days_that_divide_evenly_follow_every_tile() {
        let plan = Plan::new(&days("2026-01-15", 6), 7, 2).unwrap();
        assert_eq!(plan.first_tiles, days("2026-01-08", 12));
        assert!(plan.lead.is_empty() && plan.later_tiles.is_empty());
        assert_eq!(plan.rest, days("2026-01-15", 6));
        // One slot: nothing leads.
        let serial = Plan::new(&days("2026-01-15", 3), 7, 1).unwrap();
        assert_eq!(serial.first_tiles, days("2026-01-08", 9));
        assert_eq!(serial.rest, days("2026-01-15", 3));
        // A single day (the daily run): its window, then the day.
        let daily = Plan::new(&days("2026-01-15", 1), 30, 2).unwrap();
        assert_eq!(daily.first_tiles, days("2025-12-16", 30));
        assert_eq!(daily.lead, days("2026-01-15", 1));
        assert!(daily.later_tiles.is_empty() && daily.rest.is_empty());
    }
}
