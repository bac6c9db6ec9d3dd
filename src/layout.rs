//! Every name liverec gives to what it writes under an output root, in one place. Readers
//! and writers build paths from these, never from their own string literals:
//!
//! | path | what |
//! |---|---|
//! | `<table>/dt=D/part-*.parquet`, `<table>/dt=D/_manifest.json` | an output partition |
//! | `_staging/…` (anywhere) | work in progress, never listed by readers |
//! | `quarantine/<table>/dt=D/`, `cleaned/<table>/dt=D/` | data-quality sample and cleaned copy |
//! | `training_sets/end=E/manifest.json` | a training set |
//! | `models/<model>/<version>/`, `models/<model>/LATEST` | model versions and the published one |
//! | `runs/<workflow>/dt=D/{state.json,LOCK,report.html,summary.json}` | a workflow run |
//! | `runs/<workflow>/ledger/<job>/dt=D.json` | what a task's committed outputs were built from |

use chrono::NaiveDate;

/// The manifest committed last into every output partition.
pub const PARTITION_MANIFEST: &str = "_manifest.json";
/// Work in progress: partitions being written, model folders, a cluster run's views.
pub const STAGING: &str = "_staging";
/// Samples of quarantined rows, per input table.
pub const QUARANTINE: &str = "quarantine";
/// Cleaned copies of input days with quarantined rows, per input table.
pub const CLEANED: &str = "cleaned";
pub const TRAINING_SETS: &str = "training_sets";
pub const MODELS: &str = "models";
pub const RUNS: &str = "runs";

/// Files of a training set's folder and of a model version folder (the model's names are
/// the artifact crate's, which serving reads).
pub use liverec_artifact::{MANIFEST, MODEL};
pub const METRICS: &str = "metrics.json";
pub const REPORT: &str = "report.html";
pub const VALIDATION_PREDICTIONS: &str = "validation_predictions.parquet";
/// Names the published version of a model.
pub const LATEST: &str = "LATEST";

/// Files of a workflow run's folder.
pub const RUN_STATE: &str = "state.json";
pub const RUN_SUMMARY: &str = "summary.json";
pub const RUN_LOCK: &str = "LOCK";

/// A partition directory name, `dt=YYYY-MM-DD`.
pub fn partition(day: NaiveDate) -> String {
    format!("dt={}", day.format("%Y-%m-%d"))
}

/// The data file `i` of a partition (before any run stamp, see `storage::committed`).
pub fn data_file(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// `quarantine/<table>`: the table of quarantined-row samples of an input table.
pub fn quarantine_table(table: &str) -> String {
    format!("{QUARANTINE}/{table}")
}

/// `cleaned/<table>`: the cleaned copies of an input table's days.
pub fn cleaned_table(table: &str) -> String {
    format!("{CLEANED}/{table}")
}

/// The local staging directory of one partition being written.
pub fn staged_partition(table: &str, day: NaiveDate, run_id: &str) -> String {
    format!("{STAGING}/{table}/{}.{run_id}", partition(day))
}

/// Where executors write a local partition's files before they are moved into its staging
/// directory (`writer::exec`).
pub fn staged_task_files(table: &str, day: NaiveDate, run_id: &str) -> String {
    format!("{}.tasks", staged_partition(table, day, run_id))
}

/// Where a cluster run's materialized views live until the run ends.
pub fn views(run_id: &str) -> String {
    format!("{STAGING}/views/{run_id}")
}

/// The folder of the training set ending at `end`.
pub fn training_set(end: NaiveDate) -> String {
    format!("{TRAINING_SETS}/end={end}")
}

/// The folder of a model type's versions.
pub fn model(model: &str) -> String {
    format!("{MODELS}/{model}")
}

/// The local staging folder of a model version.
pub fn staged_model_version(version: &str) -> String {
    format!("{STAGING}/{version}")
}

/// The folder of a workflow's run for a day.
pub fn run(workflow: &str, day: NaiveDate) -> String {
    format!("{RUNS}/{workflow}/{}", partition(day))
}

/// The ledger folder of a job in a workflow.
pub fn ledger(workflow: &str, job: &str) -> String {
    format!("{RUNS}/{workflow}/ledger/{job}")
}

/// A ledger entry's file name.
pub fn ledger_entry(day: NaiveDate) -> String {
    format!("{}.json", partition(day))
}

/// A small JSON output of a job for a day (`<dir>/dt=D.json`, e.g. `metrics/recall`).
pub fn json_output(day: NaiveDate) -> String {
    format!("{}.json", partition(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(partition(d), "dt=2026-01-05");
        assert_eq!(training_set(d), "training_sets/end=2026-01-05");
        assert_eq!(run("daily", d), "runs/daily/dt=2026-01-05");
        assert_eq!(ledger_entry(d), "dt=2026-01-05.json");
        assert_eq!(data_file(3), "part-00003.parquet");
    }
}
