//! Workflows: the jobs as a DAG (`workflows/*.toml`), run for a day or a range of days with
//! idempotent skips, resume after failure, retries, timeouts, a lock, and a run report.

pub mod explain;
pub mod fingerprint;
pub mod lock;
pub mod report;
pub mod run;
pub mod spec;
pub mod state;
pub mod task;
