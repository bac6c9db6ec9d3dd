//! `PartitionWriterExec`: the physical node that lets a cluster's executors write an output
//! themselves. Each input partition is written by the task that computes it, as one Parquet
//! file under a directory every executor reaches (a shared path or `s3://`), named so that
//! no two attempts ever share a name (`part-PPPPP-<random>.<run_id>.parquet`); the node's
//! output is one small row per partition — the file's name, rows and bytes — which is all the
//! client receives. The client then commits the partition listing exactly those files
//! (`StagedPartition::adopt`); a file of a failed or superseded attempt is never listed.
//!
//! It keeps its input's partitioning (no merge into one task, which is where Ballista puts a
//! `COPY`), so writing scales with the executors. A job's order is kept within each file
//! (the writer sits above the per-partition sort); there is no order across files.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::{Distribution, EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use serde::{Deserialize, Serialize};

use crate::location::Location;
use crate::parquet_file::ParquetFileWriter;
use crate::storage::committed;

/// Where and for which run the files are written (travels with the plan).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteSpec {
    /// The directory the files go to (a location URL every executor reaches).
    pub dir: String,
    /// The run whose stamp the file names carry.
    pub run_id: String,
}

/// One row per input partition: the file written (null when the partition was empty).
pub fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("partition", DataType::UInt32, false),
        // The Ballista task that wrote it (`TID job/stage.attempt/task.attempt`), for logs.
        Field::new("task", DataType::Utf8, true),
    ]))
}

/// The name of the file a partition's attempt writes: a fresh random part per attempt, and
/// the run's stamp (so readers of object stores never see it before a manifest lists it).
pub fn attempt_file_name(partition: usize, run_id: &str) -> String {
    let random = &uuid::Uuid::new_v4().simple().to_string()[..8];
    committed::stamped_name(&format!("part-{partition:05}-{random}.parquet"), run_id)
}

pub struct PartitionWriterExec {
    input: Arc<dyn ExecutionPlan>,
    spec: WriteSpec,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl PartitionWriterExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: WriteSpec) -> Self {
        let partitions = input.output_partitioning().partition_count();
        // Not the child's partitioning: its expressions name columns this node does not
        // output. One output partition per input partition, each one row.
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(result_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            spec,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }
}

impl fmt::Debug for PartitionWriterExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionWriterExec")
            .field("dir", &self.spec.dir)
            .field("run_id", &self.spec.run_id)
            .finish()
    }
}

impl DisplayAs for PartitionWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "PartitionWriterExec: dir={}, run={}",
            self.spec.dir, self.spec.run_id
        )
    }
}

impl ExecutionPlan for PartitionWriterExec {
    fn name(&self) -> &str {
        "PartitionWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    #[allow(deprecated)]
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = children.as_slice() else {
            return internal_err!(
                "PartitionWriterExec expects one child, got {}",
                children.len()
            );
        };
        // Recomputed: Ballista changes the child's partition count after planning.
        Ok(Arc::new(Self::new(input.clone(), self.spec.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, ctx.clone())?;
        let spec = self.spec.clone();
        let written = MetricBuilder::new(&self.metrics).global_counter("rows_written");
        let write = async move {
            let (batch, rows) = write_partition(input, partition, &spec, &ctx).await?;
            written.add(rows as usize);
            Ok(batch)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            result_schema(),
            futures::stream::once(write),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

fn external(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// Writes one input partition as one file and describes it in one row (with its rows).
async fn write_partition(
    mut input: SendableRecordBatchStream,
    partition: usize,
    spec: &WriteSpec,
    ctx: &TaskContext,
) -> Result<(RecordBatch, u64)> {
    let dir = Location::parse(&spec.dir).map_err(external)?;
    let store_url = ObjectStoreUrl::parse(dir.store_url().as_str())?;
    let store = ctx.runtime_env().object_store(store_url)?;
    let name = attempt_file_name(partition, &spec.run_id);
    let path = dir.join(&name).store_path();
    let schema = input.schema();
    let mut writer: Option<ParquetFileWriter> = None;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if writer.is_none() {
            let sink = BufWriter::new(store.clone(), path.clone());
            writer = Some(ParquetFileWriter::try_new(sink, schema.clone())?);
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch).await?;
            // Test hook: an executor killed here dies in the middle of writing its file.
            crate::fault::pause("partition_write", &ctx.task_id().unwrap_or_default()).await;
        }
    }
    let (file, rows, bytes) = match writer {
        None => (None, 0, 0),
        Some(w) => {
            let meta = w.close().await?;
            let head = store
                .head(&path)
                .await
                .map_err(|e| external(format!("cannot stat {}: {e}", dir.join(&name))))?;
            (
                Some(name),
                meta.file_metadata().num_rows() as u64,
                head.size,
            )
        }
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![file])),
        Arc::new(UInt64Array::from(vec![rows])),
        Arc::new(UInt64Array::from(vec![bytes])),
        Arc::new(UInt32Array::from(vec![partition as u32])),
        Arc::new(StringArray::from(vec![ctx.task_id()])),
    ];
    Ok((RecordBatch::try_new(result_schema(), columns)?, rows))
}

/// Files written by a distributed write, as its result rows describe them.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenFile {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub partition: u32,
}

/// What the result rows of a `PartitionWriterExec` say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteResult {
    /// The files written (empty partitions left out), by partition.
    pub files: Vec<WrittenFile>,
    /// Whether the writer stage ran again after a rollback (a stage attempt above 0 in a
    /// task id): Ballista 55 can re-run a stage that was running when an executor was lost
    /// before the stages it reads from have been recomputed, so such a result may be missing
    /// rows and is not used (docs/cluster.md).
    pub stage_rerun: bool,
}

/// The stage attempt in a Ballista task id `TID job/stage.attempt/task.attempt`.
fn stage_attempt(task_id: &str) -> Option<u32> {
    let stage = task_id.split('/').nth(1)?;
    stage.split_once('.')?.1.parse().ok()
}

/// The result rows of a `PartitionWriterExec`.
pub fn write_result(batches: &[RecordBatch]) -> Result<WriteResult> {
    let mut stage_rerun = false;
    for b in batches {
        let tasks = b.column(4).as_string::<i32>();
        stage_rerun |= (0..b.num_rows())
            .any(|i| tasks.is_valid(i) && stage_attempt(tasks.value(i)).is_some_and(|a| a > 0));
    }
    Ok(WriteResult {
        files: written_files(batches)?,
        stage_rerun,
    })
}

/// The files in the result rows of a `PartitionWriterExec` (empty partitions left out).
fn written_files(batches: &[RecordBatch]) -> Result<Vec<WrittenFile>> {
    let mut out = Vec::new();
    for b in batches {
        if b.schema().fields() != result_schema().fields() {
            return internal_err!("not a PartitionWriterExec result: {}", b.schema());
        }
        let names = b.column(0).as_string::<i32>();
        let rows = b.column(1).as_primitive::<arrow::datatypes::UInt64Type>();
        let bytes = b.column(2).as_primitive::<arrow::datatypes::UInt64Type>();
        let parts = b.column(3).as_primitive::<arrow::datatypes::UInt32Type>();
        for i in 0..b.num_rows() {
            if names.is_valid(i) {
                out.push(WrittenFile {
                    name: names.value(i).to_string(),
                    rows: rows.value(i),
                    bytes: bytes.value(i),
                    partition: parts.value(i),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.partition, &a.name).cmp(&(b.partition, &b.name)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(tasks: &[&str]) -> RecordBatch {
        let n = tasks.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| Some(format!("part-{i:05}-x.parquet")))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(vec![5; n])),
            Arc::new(UInt64Array::from(vec![100; n])),
            Arc::new(UInt32Array::from((0..n as u32).collect::<Vec<_>>())),
            Arc::new(StringArray::from(tasks.to_vec())),
        ];
        RecordBatch::try_new(result_schema(), columns).unwrap()
    }

    #[test]
    fn a_rerun_writer_stage_is_recognised() {
        let first = write_result(&[rows(&["TID 038HJ/16.0/0.0", "TID 038HJ/16.0/1.2"])]).unwrap();
        assert_eq!((first.files.len(), first.stage_rerun), (2, false));
        let rerun = write_result(&[rows(&["TID 038HJ/16.1/0.0", "TID 038HJ/16.1/1.0"])]).unwrap();
        assert!(rerun.stage_rerun);
        assert_eq!(stage_attempt("TID 038HJH8EMM000/16.1/0.0"), Some(1));
        assert_eq!(stage_attempt("nonsense"), None);
    }
}
