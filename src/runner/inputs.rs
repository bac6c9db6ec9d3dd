//! A job's inputs: each declared table registered as a view restricted to the partitions of
//! its day window. Input tables are checked first: each file against the data contract, each
//! day's rows against the data-quality rules (a day with quarantined rows is read from its
//! cleaned copy), and a day without rows counts as missing. Output tables read as features
//! must show, in their manifests, inputs from before `--date` only.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::prelude::{Expr, col, lit};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

use super::{RunRequest, Session};
use crate::contract::{self, Footer, TableContract};
use crate::doc::partition::InputEntry;
use crate::doc::quality::InputQuality;
use crate::job::{InputSpec, JobSpec, Root};
use crate::layout;
use crate::params::{self, Params};
use crate::quality::{self, DayInput, QualityParams};
use crate::query::{dt_table, shift};
use crate::storage::Storage;
use crate::writer::read_manifest;

/// The structural leakage guard of feature jobs: no input window may reach `--date`.
pub(super) fn check_windows_before_date(job: &JobSpec, params: &Params) -> Result<()> {
    if !job.features_before_date {
        return Ok(());
    }
    for spec in &job.inputs {
        if spec.window(params)?.1 >= 0 {
            bail!(
                "job `{}`: input `{}` window reaches --date, but features must come from days before it",
                job.name,
                spec.table
            );
        }
    }
    Ok(())
}

/// Registers every input of the job at once (listings, footers, recorded quality checks are
/// small reads that would otherwise wait on each other); results and errors are taken in
/// declaration order. Then the leakage and lineage checks of what was registered.
pub(super) async fn register_all(
    session: &Session,
    req: &RunRequest,
    params: &Params,
    max_missing: usize,
) -> Result<Vec<InputEntry>> {
    let job = &req.job;
    let registered = futures::future::join_all(
        job.inputs
            .iter()
            .map(|spec| register(session, spec, req, params, max_missing)),
    )
    .await;
    let mut inputs = Vec::new();
    for (spec, entry) in job.inputs.iter().zip(registered) {
        let entry = entry?;
        if job.features_before_date && entry.partitions.iter().any(|d| *d >= req.date) {
            bail!(
                "leakage: job `{}` read {} partitions on or after {}",
                job.name,
                spec.table,
                req.date
            );
        }
        if spec.lineage_before_date {
            check_lineage(root_of(session, spec), spec, &entry, req.date, params).await?;
        }
        inputs.push(entry);
    }
    Ok(inputs)
}

fn root_of<'a>(session: &'a Session, spec: &InputSpec) -> &'a Storage {
    match spec.from {
        Root::Input => &session.input,
        Root::Output => &session.output,
    }
}

/// One day of an input's window: its partition and data files.
struct Day {
    day: NaiveDate,
    partition: Storage,
    files: Vec<ObjectMeta>,
}

/// The days of a window that will be read, and those that will not.
struct Window {
    from: NaiveDate,
    to: NaiveDate,
    /// Every partition with data files when the window was listed, with their digest.
    listed: BTreeMap<NaiveDate, String>,
    days: Vec<Day>,
    missing: Vec<NaiveDate>,
    /// Partitions present but without rows (counted as missing).
    empty: Vec<NaiveDate>,
}

/// Registers one input as a view restricted to the partitions of its window.
async fn register(
    session: &Session,
    spec: &InputSpec,
    req: &RunRequest,
    params: &Params,
    max_missing: usize,
) -> Result<InputEntry> {
    let table = root_of(session, spec).at(&spec.table);
    let contract = match spec.from {
        Root::Input => Some(contract::input_table(&spec.table).with_context(|| {
            format!("input `{}` is not a table of the data contract", spec.table)
        })?),
        Root::Output => None,
    };
    let mut window = list_window(&table, spec, req.date, params).await?;
    let footers = read_footers(&window.days).await?;
    let schema = checked_schema(spec, &table, contract, &window, &footers)?;
    if contract.is_some() || spec.empty_is_missing {
        drop_empty_days(&mut window, &footers);
    }
    choose_days(spec, &table, &mut window, max_missing)?;

    let (quality, cleaned_days) = match contract {
        Some(c) => check_quality(session, c, &window, req, params).await?,
        None => (None, Vec::new()),
    };
    register_view(session, spec, &table, schema, &window, &cleaned_days).await?;
    let present: Vec<NaiveDate> = window.days.iter().map(|d| d.day).collect();
    tracing::info!(
        table = %spec.table,
        partitions = present.len(),
        cleaned = cleaned_days.len(),
        "registered input {}..{}",
        window.from,
        window.to
    );
    Ok(InputEntry {
        table: spec.table.clone(),
        location: table.loc.to_string(),
        window: [window.from, window.to],
        partitions: present,
        missing: window.missing,
        empty: window.empty,
        files: window.days.iter().map(|d| d.files.len()).sum(),
        listed: Some(window.listed),
        quality,
    })
}

/// What the window of `spec` for `date` lists under `table` now: each partition with data
/// files and their digest (as `InputEntry::listed` records it). Each day's partition is
/// listed directly (an absent one lists no files), without listing the table first: a
/// currency check of a one-day window is then one request per input (16 days listed at once).
pub(super) async fn listed_now(
    table: &Storage,
    spec: &InputSpec,
    date: NaiveDate,
    params: &Params,
) -> Result<BTreeMap<NaiveDate, String>> {
    let (lo, hi) = spec.window(params)?;
    let mut lists = Vec::new();
    for offset in lo..=hi {
        let (day, table) = (shift(date, offset)?, table.clone());
        lists.push(async move {
            let files = table
                .at(&layout::partition(day))
                .list_parquet_files()
                .await?;
            Ok::<_, anyhow::Error>(digest_of(&files).map(|digest| (day, digest)))
        });
    }
    let listed: Vec<Option<(NaiveDate, String)>> = futures::stream::iter(lists)
        .buffered(16)
        .try_collect()
        .await?;
    Ok(listed.into_iter().flatten().collect())
}

/// A partition's entry in `listed`: none without data files.
fn digest_of(files: &[ObjectMeta]) -> Option<String> {
    (!files.is_empty()).then(|| crate::storage::files_digest(files))
}

/// The partitions of the window present under `table`, each with its data files.
async fn list_window(
    table: &Storage,
    spec: &InputSpec,
    date: NaiveDate,
    params: &Params,
) -> Result<Window> {
    let (lo, hi) = spec.window(params)?;
    let (from, to) = (shift(date, lo)?, shift(date, hi)?);
    let (present, missing) = table.partitions_between(from, to).await?;
    let mut days = Vec::new();
    let mut listed = BTreeMap::new();
    for day in present {
        let partition = table.at(&layout::partition(day));
        let files = partition.list_parquet_files().await?;
        if let Some(digest) = digest_of(&files) {
            listed.insert(day, digest);
        }
        days.push(Day {
            day,
            partition,
            files,
        });
    }
    Ok(Window {
        from,
        to,
        listed,
        days,
        missing,
        empty: Vec::new(),
    })
}

fn file_name(day: &Day, meta: &ObjectMeta) -> String {
    day.partition
        .loc
        .join(meta.location.filename().unwrap_or_default())
        .to_string()
}

/// The footer of every file of the window, in the days' file order (8 reads at a time).
async fn read_footers(days: &[Day]) -> Result<Vec<Footer>> {
    // The reads are built first (owned), so the stream's type holds no closure over borrowed
    // pairs and the job's future stays `Send`.
    let reads: Vec<_> = days
        .iter()
        .flat_map(|d| d.files.iter().map(move |m| (d, m)))
        .map(|(day, meta)| {
            let store = day.partition.store.clone();
            let meta = meta.clone();
            let name = file_name(day, &meta);
            async move { contract::read_footer(store, &meta, &name).await }
        })
        .collect();
    futures::stream::iter(reads).buffered(8).try_collect().await
}

/// The input's schema: the contract's, after every file was checked against it; for
/// liverec's own tables, the first file's.
fn checked_schema(
    spec: &InputSpec,
    table: &Storage,
    contract: Option<&TableContract>,
    window: &Window,
    footers: &[Footer],
) -> Result<SchemaRef> {
    let files = window
        .days
        .iter()
        .flat_map(|d| d.files.iter().map(move |m| (d, m)));
    match contract {
        Some(c) => {
            for ((day, meta), found) in files.zip(footers) {
                c.check(&file_name(day, meta), &found.schema)
                    .map_err(anyhow::Error::from)?;
            }
            Ok(c.schema())
        }
        None => match footers.first() {
            Some(f) => Ok(f.schema.clone()),
            None => bail!(
                "input `{}`: no files between {} and {} under {}",
                spec.table,
                window.from,
                window.to,
                table.loc
            ),
        },
    }
}

/// An input day without rows is as good as missing (footers are in the days' file order).
fn drop_empty_days(window: &mut Window, footers: &[Footer]) {
    let mut rows = footers.iter().map(|f| f.rows);
    let empty: Vec<NaiveDate> = window
        .days
        .iter()
        .filter(|d| rows.by_ref().take(d.files.len()).sum::<u64>() == 0)
        .map(|d| d.day)
        .collect();
    window.days.retain(|d| !empty.contains(&d.day));
    window.empty = empty;
}

/// A snapshot input keeps only its newest day; an event input must lack at most
/// `max_missing` days of its window.
fn choose_days(
    spec: &InputSpec,
    table: &Storage,
    window: &mut Window,
    max_missing: usize,
) -> Result<()> {
    if spec.latest {
        let last = window.days.pop();
        window.days.clear();
        window.missing.clear();
        window.empty.clear();
        match last {
            Some(last) => window.days.push(last),
            None if spec.required => bail!(
                "input `{}`: no snapshot with rows between {} and {} under {}",
                spec.table,
                window.from,
                window.to,
                table.loc
            ),
            None => {}
        }
        return Ok(());
    }
    let lacking = window.missing.len() + window.empty.len();
    if spec.required && lacking > max_missing {
        let list: Vec<String> = window
            .missing
            .iter()
            .map(|d| d.to_string())
            .chain(window.empty.iter().map(|d| format!("{d} (empty)")))
            .collect();
        bail!(
            "input `{}` under {} lacks {lacking} day(s) of its window {}..{}: {} (max_missing_days = {max_missing})",
            spec.table,
            table.loc,
            window.from,
            window.to,
            list.join(", ")
        );
    }
    Ok(())
}

/// Row-level data quality of each input day read; returns the summary and the days to read
/// from their cleaned copies.
async fn check_quality(
    session: &Session,
    contract: &'static TableContract,
    window: &Window,
    req: &RunRequest,
    params: &Params,
) -> Result<(Option<InputQuality>, Vec<NaiveDate>)> {
    let qp = QualityParams::from_params(params)?;
    let mut summary = InputQuality::default();
    for day in &window.days {
        let input = DayInput {
            contract,
            partition: &day.partition,
            day: day.day,
            files: &day.files,
            cluster: req.engine.cluster.clone(),
        };
        let q = quality::check_day(&session.ctx, &input, &session.output, &qp).await?;
        summary.add(day.day, &q);
    }
    let cleaned = summary.cleaned_days.clone();
    Ok((Some(summary), cleaned))
}

/// `dt IN (days…)`, or false for no day.
fn day_filter(days: &[NaiveDate]) -> Expr {
    let values: Vec<Expr> = days
        .iter()
        .map(|d| lit(ScalarValue::Date32(Some(params::date_to_days(*d)))))
        .collect();
    if values.is_empty() {
        lit(false)
    } else {
        col("dt").in_list(values, false)
    }
}

/// The view the SQL sees: the window's raw days, and its cleaned days from their copies.
async fn register_view(
    session: &Session,
    spec: &InputSpec,
    table: &Storage,
    schema: SchemaRef,
    window: &Window,
    cleaned_days: &[NaiveDate],
) -> Result<()> {
    let ctx = &session.ctx;
    let hidden = format!("__all_{}", spec.sql_name());
    ctx.register_table(hidden.as_str(), dt_table(table, schema.clone())?)?;
    let raw_days: Vec<NaiveDate> = window
        .days
        .iter()
        .map(|d| d.day)
        .filter(|d| !cleaned_days.contains(d))
        .collect();
    let mut view = ctx
        .table(hidden.as_str())
        .await?
        .filter(day_filter(&raw_days))?;
    if !cleaned_days.is_empty() {
        // Days with quarantined rows are read from their cleaned copy.
        let dir = session.output.at(&layout::cleaned_table(&spec.table));
        let hidden_clean = format!("__cleaned_{}", spec.sql_name());
        ctx.register_table(hidden_clean.as_str(), dt_table(&dir, schema)?)?;
        let cleaned = ctx
            .table(hidden_clean.as_str())
            .await?
            .filter(day_filter(cleaned_days))?;
        view = view.union(cleaned)?;
    }
    ctx.register_table(spec.sql_name(), view.into_view())?;
    Ok(())
}

/// Checks, from the manifests of the partitions read, that the features they hold were
/// computed from data before `date` only, with the same shared parameters as this run.
pub async fn check_lineage(
    root: &Storage,
    spec: &InputSpec,
    entry: &InputEntry,
    date: NaiveDate,
    params: &Params,
) -> Result<()> {
    let table = root.at(&spec.table);
    for day in &entry.partitions {
        let part = layout::partition(*day);
        let manifest = read_manifest(&table, *day).await?.with_context(|| {
            format!(
                "{}/{part} has no manifest: not written by liverec",
                table.loc
            )
        })?;
        for input in &manifest.inputs {
            if input.window[1] >= date || input.partitions.iter().any(|d| *d >= date) {
                bail!(
                    "leakage: {}/{part} was computed from {} up to {}, not before {date}",
                    table.loc,
                    input.table,
                    input.window[1]
                );
            }
        }
        // The day and the window's tolerance of missing days belong to each run, not to
        // what the rows mean (a tile of an earlier day has its own).
        let shared = params
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "max_missing_days"));
        for (name, value) in shared {
            if let Some(theirs) = manifest.params.get(name) {
                let ours = serde_json::to_value(value)?;
                if *theirs != ours {
                    bail!(
                        "{}/{part} was built with {name} = {theirs}, this run uses {ours}: rebuild it",
                        table.loc
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamValue;
    use crate::storage::Location;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, day).unwrap()
    }

    fn spec(text: &str) -> InputSpec {
        toml::from_str(text).unwrap()
    }

    fn window(days: &[u32], missing: &[u32], empty: &[u32]) -> Window {
        let root = Storage::open(Location::parse("/tmp/liverec-unit").unwrap()).unwrap();
        Window {
            from: d(1),
            to: d(7),
            listed: BTreeMap::new(),
            days: days
                .iter()
                .map(|x| Day {
                    day: d(*x),
                    partition: root.at(&layout::partition(d(*x))),
                    files: Vec::new(),
                })
                .collect(),
            missing: missing.iter().map(|x| d(*x)).collect(),
            empty: empty.iter().map(|x| d(*x)).collect(),
        }
    }

    #[test]
    fn an_event_input_may_lack_at_most_max_missing_days() {
        let root = Storage::open(Location::parse("/tmp/liverec-unit").unwrap()).unwrap();
        let s = spec("table = \"watches\"\ndays = [-6, 0]");
        let mut w = window(&[1, 2, 3, 4, 5], &[6], &[7]);
        let err = choose_days(&s, &root, &mut w, 1).unwrap_err().to_string();
        assert!(err.contains("lacks 2 day(s)"), "{err}");
        assert!(err.contains("2026-01-07 (empty)"), "{err}");
        assert!(choose_days(&s, &root, &mut w, 2).is_ok());
        let optional = spec("table = \"watches\"\ndays = [-6, 0]\nrequired = false");
        assert!(choose_days(&optional, &root, &mut w, 0).is_ok());
    }

    #[test]
    fn a_snapshot_input_keeps_its_newest_day_only() {
        let root = Storage::open(Location::parse("/tmp/liverec-unit").unwrap()).unwrap();
        let s = spec("table = \"users\"\ndays = [-6, -1]\nlatest = true");
        let mut w = window(&[2, 4], &[1, 3, 5, 6], &[]);
        choose_days(&s, &root, &mut w, 0).unwrap();
        let kept: Vec<NaiveDate> = w.days.iter().map(|x| x.day).collect();
        assert_eq!(kept, vec![d(4)]);
        assert!(w.missing.is_empty() && w.empty.is_empty());
        let mut none = window(&[], &[1, 2, 3, 4, 5, 6], &[]);
        let err = choose_days(&s, &root, &mut none, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no snapshot with rows"), "{err}");
    }

    #[test]
    fn feature_jobs_refuse_a_window_reaching_the_date() {
        let job = JobSpec::load("profiles").unwrap();
        let mut params = crate::params::bind(&job.params, &[]).unwrap();
        assert!(check_windows_before_date(&job, &params).is_ok());
        let mut leaky = job.clone();
        leaky.inputs[0].days[1] = toml::Value::Integer(0);
        let err = check_windows_before_date(&leaky, &params)
            .unwrap_err()
            .to_string();
        assert!(err.contains("reaches --date"), "{err}");
        // Not a feature job: no such rule.
        leaky.features_before_date = false;
        params.insert("profile_days".into(), ParamValue::Int(3));
        assert!(check_windows_before_date(&leaky, &params).is_ok());
    }

    #[test]
    fn the_day_filter_reads_exactly_the_days_given() {
        assert_eq!(day_filter(&[]).to_string(), "Boolean(false)");
        let f = day_filter(&[d(2), d(3)]).to_string();
        assert!(
            f.contains("dt IN") && f.contains("2026-01-02") && f.contains("2026-01-03"),
            "{f}"
        );
    }
}
