//! Runs any job by its declaration: a builtin (`builtin`) or a SQL job (`runner`). The one
//! entry point of the command line and the workflow, and where a run's deadline (`--timeout`)
//! is kept: when it passes, the whole job is dropped — its queries, its sub-jobs, its label
//! days — and whatever it had staged is abandoned, never committed.

use anyhow::{Result, anyhow};

use crate::builtin;
use crate::runner::{self, RunReport, RunRequest};

pub async fn run_job(req: RunRequest) -> Result<RunReport> {
    let work = async {
        crate::fault::pause("job_start", &req.job.name).await;
        if let Some(failure) = crate::fault::injected_failure(&req.job.name) {
            anyhow::bail!(failure);
        }
        let params = runner::bind_params(&req)?;
        runner::ensure_writable(&req.output)?;
        match &req.job.builtin {
            Some(name) => builtin::run(name, &req, &params).await,
            None => runner::run_sql_job(&req, &params).await,
        }
    };
    let Some(limit) = req.engine.timeout else {
        return work.await;
    };
    match tokio::time::timeout(limit, work).await {
        Ok(done) => done,
        Err(_) => Err(anyhow!(
            "job `{}` for {} exceeded its timeout of {} s; nothing of it in flight was committed",
            req.job.name,
            req.date,
            limit.as_secs()
        )),
    }
}
