//! A job's SQL steps: views (kept in memory, or materialized), outputs staged as Parquet
//! partitions, and the checks run before anything is committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, SortExpr};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::{ExecutionPlanProperties, collect_partitioned};
use datafusion::prelude::{DataFrame, SessionContext};

use super::{RunRequest, Session};
use crate::cluster::write::{stage_frame, write_on_executors};
use crate::job::{JobSpec, StepSpec};
use crate::query::{Placeholders, parquet_files_table, query, scalar_to_json};
use crate::storage::Storage;
use crate::writer::StagedPartition;

/// An output partition staged by a step, waiting for the commit.
pub(super) struct Staged {
    pub part: StagedPartition,
    pub schema: SchemaRef,
    /// For small outputs: the rows, to write as `<dir>/dt=D.json` too.
    pub json: Option<(String, Vec<RecordBatch>)>,
}

/// Runs every step in order, pushing each output staged onto `staged` (so the caller can
/// abort what was written when a later step or a check fails).
pub(super) async fn run_steps(
    session: &Session,
    req: &RunRequest,
    values: &Placeholders,
    run_id: &str,
    scratch: &Storage,
    staged: &mut Vec<Staged>,
) -> Result<()> {
    for step in &req.job.steps {
        let df = query(&session.ctx, &step.sql, values).await?;
        if let Some(view) = &step.view {
            let table = if step.materialize {
                let started = std::time::Instant::now();
                let cluster = req.engine.cluster.as_deref();
                let table = materialize(df, &scratch.at(view), cluster, run_id)
                    .await
                    .with_context(|| format!("materializing sql/{}", step.sql))?;
                tracing::info!(
                    view,
                    seconds = started.elapsed().as_secs_f64(),
                    "materialized sql/{}",
                    step.sql
                );
                table
            } else {
                df.into_view()
            };
            session.ctx.register_table(view.as_str(), table)?;
            continue;
        }
        staged.push(stage_output(session, req, step, df, run_id).await?);
    }
    Ok(())
}

/// Writes an output step's result into a staged partition.
async fn stage_output(
    session: &Session,
    req: &RunRequest,
    step: &StepSpec,
    df: DataFrame,
    run_id: &str,
) -> Result<Staged> {
    let table = step.output.as_deref().expect("validated: view or output");
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let started = std::time::Instant::now();
    let mut part = StagedPartition::begin(&session.output, table, req.date, run_id).await?;
    let (keep, cluster) = (step.json.is_some(), req.engine.cluster.as_deref());
    let written = match write_output(&session.ctx, df, &mut part, keep, cluster)
        .await
        .with_context(|| format!("writing {table} from sql/{}", step.sql))
    {
        Ok(written) => written,
        Err(e) => {
            part.abort().await;
            return Err(e);
        }
    };
    tracing::info!(
        table,
        rows = part.rows(),
        seconds = started.elapsed().as_secs_f64(),
        "staged sql/{}",
        step.sql
    );
    let json = match (&step.json, written) {
        (Some(dir), Some(batches)) => Some((dir.clone(), batches)),
        _ => None,
    };
    Ok(Staged { part, schema, json })
}

/// Runs an output query into a staged partition. Small results (`keep`: metrics written as
/// JSON too) are also returned: embedded, collected and written here; on a cluster, written
/// by the executors like every output and read back from the staged files.
async fn write_output(
    ctx: &SessionContext,
    df: DataFrame,
    part: &mut StagedPartition,
    keep: bool,
    cluster: Option<&str>,
) -> Result<Option<Vec<RecordBatch>>> {
    if keep && cluster.is_none() {
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        part.write_batches(&crate::layout::data_file(0), schema, &batches)
            .await?;
        return Ok(Some(batches));
    }
    stage_frame(part, df, cluster).await?;
    if !keep {
        return Ok(None);
    }
    let read = ctx
        .read_parquet(part.staged_file_urls(), Default::default())
        .await?;
    Ok(Some(read.collect().await?))
}

/// Computes a view once. Embedded: kept in memory. On a cluster, where Ballista cannot ship
/// in-memory tables to executors, the executors write it as Parquet under `dir` (on the
/// output store, which every executor reads) and it is registered as a table of exactly the
/// files they reported; this also keeps the plans sent to the scheduler shallow.
async fn materialize(
    df: DataFrame,
    dir: &Storage,
    cluster: Option<&str>,
    run_id: &str,
) -> Result<Arc<dyn TableProvider>> {
    let Some(cluster) = cluster else {
        return cache_keeping_order(df).await;
    };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let files = write_on_executors(df, dir, run_id, cluster).await?;
    if files.is_empty() {
        let empty = MemTable::try_new(schema, vec![vec![]])?;
        return Ok(Arc::new(empty));
    }
    let urls: Vec<String> = files
        .iter()
        .map(|f| dir.at(&f.name).loc.url().to_string())
        .collect();
    Ok(parquet_files_table(&urls, schema)?)
}

/// Collects a view in memory and declares the order its plan guarantees (what
/// `DataFrame::cache` drops): a later join that keeps its probe side's order then carries it
/// to an output, whose `ORDER BY` needs no sort.
async fn cache_keeping_order(df: DataFrame) -> Result<Arc<dyn TableProvider>> {
    let task_ctx = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let order = plan
        .output_ordering()
        .map(logical_sort_order)
        .unwrap_or_default();
    let partitions = collect_partitioned(plan.clone(), task_ctx).await?;
    let table = MemTable::try_new(plan.schema(), partitions)?;
    Ok(Arc::new(match order {
        Some(order) => table.with_sort_order(vec![order]),
        None => table,
    }))
}

/// A physical ordering as sort expressions on the view's columns, if it is made of plain
/// columns only (the only orderings a table can declare).
fn logical_sort_order(ordering: &LexOrdering) -> Option<Vec<SortExpr>> {
    ordering
        .iter()
        .map(|sort| {
            let column = sort.expr.downcast_ref::<Column>()?;
            let name = datafusion::common::Column::new_unqualified(column.name());
            Some(Expr::Column(name).sort(!sort.options.descending, sort.options.nulls_first))
        })
        .collect()
}

/// Runs the job's checks: each returns one row whose columns are recorded (and fail the run
/// when listed in `fail_if_nonzero` and positive).
pub(super) async fn run_checks(
    ctx: &SessionContext,
    job: &JobSpec,
    values: &Placeholders,
) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for check in &job.checks {
        let batches = query(ctx, &check.sql, values).await?.collect().await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows != 1 {
            bail!(
                "check `{}` (sql/{}) must return one row, returned {rows}",
                check.name,
                check.sql
            );
        }
        let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let json = scalar_to_json(&ScalarValue::try_from_array(column, 0)?);
            let key = format!("{}.{}", check.name, field.name());
            if check.fail_if_nonzero.iter().any(|c| c == field.name())
                && json.as_f64().is_some_and(|x| x != 0.0)
            {
                bail!(
                    "check `{}` failed: {} = {} (must be 0; sql/{})",
                    check.name,
                    field.name(),
                    json,
                    check.sql
                );
            }
            out.insert(key, json);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionConfig;

    /// Whether the plan of `sql` in `ctx` sorts anything.
    async fn plan_sorts(ctx: &SessionContext, sql: &str) -> bool {
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        displayable(plan.as_ref())
            .indent(false)
            .to_string()
            .contains("SortExec")
    }

    #[tokio::test]
    async fn a_cached_view_keeps_the_order_its_query_guarantees() {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        let rows = "SELECT * FROM (VALUES (3, 'c'), (1, 'a'), (2, 'b')) AS t(k, v)";
        let sorted = cache_keeping_order(ctx.sql(&format!("{rows} ORDER BY k")).await.unwrap());
        ctx.register_table("sorted", sorted.await.unwrap()).unwrap();
        let unsorted = cache_keeping_order(ctx.sql(rows).await.unwrap());
        ctx.register_table("unsorted", unsorted.await.unwrap())
            .unwrap();

        assert!(!plan_sorts(&ctx, "SELECT k, v FROM sorted ORDER BY k").await);
        assert!(plan_sorts(&ctx, "SELECT k, v FROM sorted ORDER BY v").await);
        assert!(plan_sorts(&ctx, "SELECT k, v FROM unsorted ORDER BY k").await);
        let got = ctx
            .sql("SELECT k FROM sorted")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let keys = arrow::compute::concat_batches(&got[0].schema(), &got).unwrap();
        assert_eq!(
            keys.column(0).as_ref(),
            &arrow::array::Int64Array::from(vec![1, 2, 3]) as &dyn arrow::array::Array
        );
    }
}
