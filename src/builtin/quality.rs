//! The `quality` job: the contract and row-level data quality of every input table's
//! partition of `--date`, recorded for the other jobs to reuse (docs/data-quality.md).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::engine;
use crate::params::Params;
use crate::quality::{self, QualityParams};
use crate::runner::{RunReport, RunRequest};
use crate::storage::{Storage, committed};

/// The `quality` job: checks every input table's partition of `--date` against the contract
/// and the row rules, recording the results the other jobs then reuse.
pub async fn run(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let qp = QualityParams::from_params(params)?;
    let ctx = engine::new_context(&req.engine).await?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    for root in [&input, &output] {
        ctx.register_object_store(&root.loc.store_url(), root.store.clone());
    }
    let tables = quality::check_tables_of_day(
        &ctx,
        &input,
        &output,
        req.date,
        &qp,
        req.engine.cluster.as_deref(),
    )
    .await?;
    let mut checks = BTreeMap::new();
    let mut lines = vec![format!(
        "{:<14} {:>10} {:>12} {:>10}  reasons",
        "table", "rows", "quarantined", "tolerated"
    )];
    for t in &tables {
        let Some(q) = &t.quality else {
            lines.push(format!("{:<14} {:>10}", t.table, "absent"));
            continue;
        };
        let reasons: Vec<String> = q
            .quarantined
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.push(format!(
            "{:<14} {:>10} {:>12} {:>10}  {}",
            t.table,
            q.rows,
            q.bad(),
            q.tolerated.values().sum::<u64>(),
            reasons.join(" ")
        ));
        checks.insert(t.table.to_string(), serde_json::to_value(q)?);
    }
    Ok(RunReport {
        job: "quality".into(),
        date: req.date,
        run_id: committed::new_run_id(),
        outputs: Vec::new(),
        inputs: Vec::new(),
        checks,
        printed: vec![lines.join("\n")],
    })
}
