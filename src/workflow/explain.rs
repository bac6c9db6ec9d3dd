//! Why a task would rerun: its fingerprint now against the parts its ledger entry recorded
//! when its outputs were built (`workflow status`), and which outputs were built from input
//! days rewritten or added since (`workflow stale`, late data).

use anyhow::Result;
use chrono::NaiveDate;

use super::fingerprint::{self, input_changes};
use super::run::{WorkflowRequest, plan};
use super::spec::WorkflowSpec;
use super::state;
use crate::storage::Storage;

/// One task's standing for a day.
#[derive(Debug)]
pub struct TaskCheck {
    pub task: String,
    pub job: String,
    pub day: NaiveDate,
    /// Empty when its committed outputs are up to date.
    pub reasons: Vec<String>,
    /// The input partitions rewritten, added or removed since its outputs were built.
    pub late_inputs: Vec<String>,
}

/// Every task of the workflow for `req.date`, with why it would rerun.
pub async fn check(req: &WorkflowRequest) -> Result<Vec<TaskCheck>> {
    let spec = WorkflowSpec::load(&req.workflow)?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    let order = spec.order()?;
    let mut out = Vec::new();
    for (name, task) in plan(req, &spec, &order, &input).await? {
        let entry = state::ledger_get(&output, &spec.name, &task.job, task.date).await?;
        let now = task.parts.as_ref().expect("planned tasks have parts");
        let (reasons, late_inputs) = match entry {
            None => (vec!["never built".to_string()], Vec::new()),
            Some(entry) => {
                let mut reasons = match &entry.parts {
                    None if entry.fingerprint != task.fingerprint => {
                        vec!["built by an older liverec that recorded no reasons".to_string()]
                    }
                    None => Vec::new(),
                    Some(then) => fingerprint::reasons(then, now),
                };
                if !state::outputs_present(&entry.outputs).await? {
                    reasons.push("its outputs are missing".into());
                }
                let late = entry
                    .parts
                    .as_ref()
                    .map(|then| input_changes(then, now))
                    .unwrap_or_default();
                (reasons, late)
            }
        };
        out.push(TaskCheck {
            task: name,
            job: task.job,
            day: task.date,
            reasons,
            late_inputs,
        });
    }
    Ok(out)
}
