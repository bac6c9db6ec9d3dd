//! The client's side of a write on the cluster: plan the query physically here, put a
//! `PartitionWriterExec` over it (keeping its partitions), submit that plan to the scheduler,
//! and receive one small row per partition — never the output rows themselves.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::SchemaRef;
use ballista::prelude::SessionConfigExt;
use ballista_core::execution_plans::execute_physical_plan;
use datafusion::execution::SessionState;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::DataFrame;
use datafusion_proto::protobuf::PhysicalPlanNode;

use super::codec::LiverecCodec;
use crate::layout;
use crate::storage::Storage;
use crate::writer::exec::write_result;
use crate::writer::{PartitionWriterExec, StagedPartition, WriteSpec, WrittenFile};

/// A distributed write whose writer stage Ballista re-ran after losing an executor: its result
/// may be missing rows, so it is discarded and the query written again from scratch.
#[derive(Debug, thiserror::Error)]
#[error(
    "an executor was lost while this output was being written (Ballista re-ran the writer stage); the result is not used"
)]
pub struct WriterStageRerun;

/// The scheduler's gRPC URL for a `df://host:port` cluster URL.
pub fn scheduler_url(cluster: &str) -> Result<String> {
    let url = url::Url::parse(cluster).with_context(|| format!("bad cluster URL {cluster:?}"))?;
    let host = url
        .host_str()
        .with_context(|| format!("cluster URL {cluster:?} has no host"))?;
    Ok(format!("http://{host}:{}", url.port().unwrap_or(50050)))
}

/// A merge at the root only gathers the partitions into one stream for a single writer:
/// the distributed writer writes each partition as it is (each file keeps a sorted
/// partition's order). A merge with a limit is kept (it decides which rows exist).
fn without_root_merge(mut plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    loop {
        let child = if plan
            .downcast_ref::<CoalescePartitionsExec>()
            .is_some_and(|c| c.fetch().is_none())
            || plan
                .downcast_ref::<SortPreservingMergeExec>()
                .is_some_and(|m| m.fetch().is_none())
        {
            plan.children().first().map(|c| (*c).clone())
        } else {
            None
        };
        match child {
            Some(c) => plan = c,
            None => return plan,
        }
    }
}

/// The physical plan of `df` as this client plans it (same config and functions as every
/// process of the cluster), with the writer over it.
async fn writer_plan(
    state: &SessionState,
    logical: &datafusion::logical_expr::LogicalPlan,
    spec: WriteSpec,
) -> Result<Arc<dyn ExecutionPlan>> {
    let logical = state.optimize(logical)?;
    let physical = DefaultPhysicalPlanner::default()
        .create_physical_plan(&logical, state)
        .await?;
    let writer = Arc::new(PartitionWriterExec::new(without_root_merge(physical), spec));
    // The writer's stage stays an ordinary stage (lost tasks re-run the usual way); its
    // rows come to the client through one small final task.
    Ok(Arc::new(CoalescePartitionsExec::new(writer)))
}

/// How often a write is started again after losing an executor under it.
const RETRIES: usize = 3;
/// Three waits of 15 s outlast the scheduler's default 30 s executor timeout, so a retry after
/// a broken connection finds the dead executor gone.
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs `df` on the cluster at `cluster` with every partition written by the executor that
/// computes it, as a file under `dir` stamped with `run_id`. Returns the files written. Lost
/// executors: Ballista re-runs lost tasks itself, but not the client's fetch of the final
/// rows from an executor that died, and it can re-run a writer stage before its inputs are
/// recomputed (`WriterStageRerun`); either way the whole write starts again (the discarded
/// attempt's files are never listed, and are removed with the staging or by cleanup).
pub async fn write_on_executors(
    df: DataFrame,
    dir: &Storage,
    run_id: &str,
    cluster: &str,
) -> Result<Vec<WrittenFile>> {
    let spec = WriteSpec {
        dir: dir.loc.dir_url(),
        run_id: run_id.to_string(),
    };
    let mut attempt = 0;
    loop {
        match write_once(df.clone(), spec.clone(), cluster).await {
            Ok(files) => return Ok(files),
            Err(e) if attempt < RETRIES && lost_executor(&e) => {
                attempt += 1;
                tracing::warn!(attempt, "writing {} again: {e:#}", dir.loc);
                if !e.is::<WriterStageRerun>() {
                    tokio::time::sleep(RETRY_WAIT).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether an error is an executor lost under a write: a writer stage Ballista re-ran, or a
/// broken connection to an executor.
fn lost_executor(e: &anyhow::Error) -> bool {
    if e.is::<WriterStageRerun>() {
        return true;
    }
    let text = format!("{e:#}").to_ascii_lowercase();
    [
        "connection reset",
        "connection refused",
        "h2 protocol error",
        "transport error",
        "broken pipe",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// One attempt of a distributed write.
async fn write_once(df: DataFrame, spec: WriteSpec, cluster: &str) -> Result<Vec<WrittenFile>> {
    let (state, logical) = df.into_parts();
    let plan = writer_plan(&state, &logical, spec).await?;
    tracing::debug!(
        "distributed write plan:\n{}",
        datafusion::physical_plan::displayable(plan.as_ref()).indent(false)
    );
    let config = state.config().clone();
    let stream = execute_physical_plan::<PhysicalPlanNode>(
        scheduler_url(cluster)?,
        &config.ballista_config(),
        plan,
        &LiverecCodec::default(),
        state.session_id().to_string(),
        config,
    )
    .await?;
    let batches = datafusion::physical_plan::common::collect(stream).await?;
    let result = write_result(&batches)?;
    if result.stage_rerun {
        return Err(WriterStageRerun.into());
    }
    Ok(result.files)
}

/// Writes `df` into a staged partition. Embedded, this process writes each partition's
/// stream as a file; on a cluster (`cluster` = its URL) the executors do and the partition
/// adopts their files. An all-empty result still gets one (empty) file with the schema.
pub async fn stage_frame(
    part: &mut StagedPartition,
    df: DataFrame,
    cluster: Option<&str>,
) -> Result<()> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let Some(cluster) = cluster else {
        let started = std::time::Instant::now();
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(false),
            "optimized and physical plan"
        );
        let streams = datafusion::physical_plan::execute_stream_partitioned(plan, task)?;
        return part.write_streams(schema, streams).await;
    };
    let run_id = part.run_id.clone();
    let files = write_on_executors(df, part.task_dir(), &run_id, cluster).await?;
    part.adopt(&files).await?;
    if part.files.is_empty() {
        part.write_batches(&layout::data_file(0), schema, &[])
            .await?;
    }
    Ok(())
}
