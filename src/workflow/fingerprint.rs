//! A task's fingerprint: what its outputs depend on — the code that builds them, the task
//! (job, day, parameters), the upstream tasks that produce its inputs, and every input
//! partition it reads (its files' names, sizes and versions). A task whose ledger entry has
//! the same fingerprint (and whose outputs are still there) is skipped; the parts are kept in
//! the ledger, so `workflow status` can say why a task would rerun and `workflow stale` which
//! outputs were built from input days rewritten since (late data).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::INPUT_TABLES;
use crate::job::{JobSpec, QUALITY_JOB, Root};
use crate::layout;
use crate::storage::Storage;

/// The parts of a fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    /// The binary (a hash of its executable) and the project files it runs.
    pub code: String,
    /// The job, its day and its parameter overrides.
    pub task: String,
    /// The fingerprints of the upstream tasks that produce data.
    pub upstream: Vec<String>,
    /// Each input partition read, `table/dt=D`, with what its files were.
    pub inputs: BTreeMap<String, InputPartition>,
}

/// An input partition as read: a digest of its data files (name, size, e-tag or modification
/// time) and the newest modification time among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputPartition {
    pub digest: String,
    pub modified: DateTime<Utc>,
}

impl Parts {
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update(bytes);
            h.update([0]);
        };
        field(self.code.as_bytes());
        field(self.task.as_bytes());
        for u in &self.upstream {
            field(u.as_bytes());
        }
        for (name, p) in &self.inputs {
            field(name.as_bytes());
            field(p.digest.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// The code a fingerprint names: this binary and the project files in use.
pub fn code_identity() -> String {
    format!(
        "{}+{}",
        crate::version::build_id(),
        crate::project::code_version()
    )
}

/// The parts of a task's fingerprint now. `set_overrides` are the overrides of the training
/// set a `train` task follows (its validation day's window depends on them).
pub async fn parts(
    input: &Storage,
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
    upstream: &[String],
    set_overrides: Option<&[(String, String)]>,
) -> Result<Parts> {
    let sorted: BTreeMap<_, _> = overrides.iter().cloned().collect();
    let task = format!("{job} {day} {sorted:?}");
    let mut inputs = BTreeMap::new();
    for (name, from, to) in windows(job, day, overrides, set_overrides)? {
        let table = input.at(&name);
        let (present, _) = table.partitions_between(from, to).await?;
        for d in present {
            let part = table.at(&layout::partition(d));
            let files = part.list_parquet_files().await?;
            let modified = files
                .iter()
                .map(|m| m.last_modified)
                .max()
                .unwrap_or_default();
            inputs.insert(
                format!("{name}/{}", layout::partition(d)),
                InputPartition {
                    digest: crate::storage::files_digest(&files),
                    modified,
                },
            );
        }
    }
    Ok(Parts {
        code: code_identity(),
        task,
        upstream: upstream.to_vec(),
        inputs,
    })
}

/// Why a task whose outputs were built with `then` would be rebuilt now (`now`); empty when
/// they are up to date.
pub fn reasons(then: &Parts, now: &Parts) -> Vec<String> {
    let mut out = Vec::new();
    if then.code != now.code {
        out.push("the code changed (another liverec build or edited project files)".into());
    }
    if then.task != now.task {
        out.push("its parameters changed".into());
    }
    if then.upstream != now.upstream {
        out.push("an upstream task's output will change".into());
    }
    out.extend(input_changes(then, now));
    out
}

/// Input partitions rewritten, added or removed since `then` (late data).
pub fn input_changes(then: &Parts, now: &Parts) -> Vec<String> {
    let mut out = Vec::new();
    for (name, p) in &now.inputs {
        match then.inputs.get(name) {
            None => out.push(format!("input {name} appeared (modified {})", p.modified)),
            Some(old) if old.digest != p.digest => {
                out.push(format!("input {name} was rewritten at {}", p.modified));
            }
            Some(_) => {}
        }
    }
    for name in then.inputs.keys().filter(|n| !now.inputs.contains_key(*n)) {
        out.push(format!("input {name} was removed"));
    }
    out
}

/// The input-table day windows a job reads for `day`, for `bench` and other callers outside
/// a workflow.
pub fn input_windows(
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
    windows(job, day, overrides, None)
}

/// The input-table day windows a job reads for `day`: from its declaration for SQL jobs;
/// `quality` reads every input table on `day`; `training_set` the profile and label windows of
/// its label days; `train` the windows of its validation day (built by it when missing).
fn windows(
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
    set_overrides: Option<&[(String, String)]>,
) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
    let spec = JobSpec::load(job)?;
    match spec.builtin.as_deref() {
        Some(QUALITY_JOB) => Ok(every_table(day, day, day)),
        Some("training_set") => {
            let (m, n, _) = set_shape(overrides)?;
            Ok(every_table(back(day, m - 1 + n)?, day, back(day, 1)?))
        }
        // Builtins that declare what they read (`als`, through its likes sub-job).
        Some(_) if !spec.inputs.is_empty() => declared_windows(&spec, day, overrides),
        Some(_) => {
            // `train`: the training set's days are upstream outputs; it reads inputs only to
            // build its validation day V (E, or E+1) like a label day.
            let (_, n, next_day) = set_shape(set_overrides.unwrap_or(&[]))?;
            let v = if next_day { day + Days::new(1) } else { day };
            Ok(every_table(back(v, n)?, v, back(v, 1)?))
        }
        None => declared_windows(&spec, day, overrides),
    }
}

/// The windows of a job's declared inputs from the platform's logs, and of the logs its
/// derived inputs (`build_with`, the daily tiles) are built from.
fn declared_windows(
    spec: &JobSpec,
    day: NaiveDate,
    overrides: &[(String, String)],
) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
    let params = crate::params::bind(&spec.params, overrides)?;
    let shift = |o: i64| day + chrono::Duration::days(o);
    let mut out = Vec::new();
    for input in &spec.inputs {
        let (lo, hi) = input.window(&params)?;
        match (input.from, &input.build_with) {
            (Root::Input, _) => out.push((input.table.clone(), shift(lo), shift(hi))),
            (Root::Output, Some(job)) => {
                // A one-day job per day of the window: its inputs over the whole window.
                for source in JobSpec::load(job)?.inputs {
                    if source.from == Root::Input && !out.iter().any(|w| w.0 == source.table) {
                        out.push((source.table, shift(lo), shift(hi)));
                    }
                }
            }
            (Root::Output, None) => {}
        }
    }
    Ok(out)
}

/// A training set's label days M, profile days N, and whether it validates on the next day.
fn set_shape(overrides: &[(String, String)]) -> Result<(u64, u64, bool)> {
    #[derive(Deserialize)]
    struct Shape {
        label_days: u64,
        profile_days: u64,
        validation: String,
    }
    let spec = JobSpec::load("training_set")?;
    let s: Shape = crate::params::settings(&crate::params::bind(&spec.params, overrides)?)?;
    Ok((s.label_days, s.profile_days, s.validation == "next_day"))
}

/// Every input table: event tables over `from..=to`, snapshot tables up to `snapshots_to`.
fn every_table(
    from: NaiveDate,
    to: NaiveDate,
    snapshots_to: NaiveDate,
) -> Vec<(String, NaiveDate, NaiveDate)> {
    INPUT_TABLES
        .iter()
        .map(|c| {
            let end = if matches!(c.name, "users" | "anchors") {
                snapshots_to
            } else {
                to
            };
            (c.name.to_string(), from, end)
        })
        .collect()
}

fn back(day: NaiveDate, days: u64) -> Result<NaiveDate> {
    day.checked_sub_days(Days::new(days))
        .ok_or_else(|| anyhow::anyhow!("{day} - {days} days is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn builtins_declare_their_exact_windows() {
        let w = windows(
            "training_set",
            d("2026-01-16"),
            &[("label_days".into(), "30".into())],
            None,
        )
        .unwrap();
        let watches = w.iter().find(|(t, _, _)| t == "watches").unwrap();
        // 30 label days with 7 profile days each: 2025-12-11 .. 2026-01-16.
        assert_eq!((watches.1, watches.2), (d("2025-12-11"), d("2026-01-16")));
        let users = w.iter().find(|(t, _, _)| t == "users").unwrap();
        assert_eq!(users.2, d("2026-01-15"));
        // train validating on the next day reads that day's window.
        let t = windows("train_gbdt", d("2026-01-16"), &[], Some(&[])).unwrap();
        let watches = t.iter().find(|(t, _, _)| t == "watches").unwrap();
        assert_eq!((watches.1, watches.2), (d("2026-01-10"), d("2026-01-17")));
        let last = [("validation".to_string(), "last_day".to_string())];
        let t = windows("train_gbdt", d("2026-01-16"), &[], Some(&last)).unwrap();
        assert_eq!(
            t.iter().find(|(t, _, _)| t == "watches").unwrap().2,
            d("2026-01-16")
        );
        // als reads its likes window of watches (declared in jobs/als.toml).
        let a = windows(
            "als",
            d("2026-01-16"),
            &[("window_days".into(), "30".into())],
            None,
        )
        .unwrap();
        assert_eq!(
            a,
            vec![("watches".into(), d("2025-12-18"), d("2026-01-16"))]
        );
        let a = windows("als_items", d("2026-01-16"), &[], None).unwrap();
        assert_eq!(
            a,
            vec![("item_events".into(), d("2025-12-18"), d("2026-01-16"))]
        );
    }

    #[test]
    fn reasons_name_what_changed() {
        let part = |digest: &str| InputPartition {
            digest: digest.into(),
            modified: DateTime::<Utc>::default(),
        };
        let then = Parts {
            code: "a".into(),
            task: "heat 2026-01-10 {}".into(),
            upstream: vec![],
            inputs: [("watches/dt=2026-01-10".to_string(), part("x"))].into(),
        };
        assert!(reasons(&then, &then).is_empty());
        let mut now = then.clone();
        now.code = "b".into();
        now.inputs.insert("watches/dt=2026-01-10".into(), part("y"));
        now.inputs.insert("watches/dt=2026-01-09".into(), part("z"));
        let r = reasons(&then, &now).join("; ");
        assert!(r.contains("the code changed"), "{r}");
        assert!(r.contains("watches/dt=2026-01-10 was rewritten"), "{r}");
        assert!(r.contains("watches/dt=2026-01-09 appeared"), "{r}");
        assert_ne!(then.fingerprint(), now.fingerprint());
    }
}
