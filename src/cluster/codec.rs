//! liverec's physical plan codec: Ballista's own, plus liverec's nodes (the distributed
//! writer). Plans cross the wire as protobuf; a node DataFusion does not know is encoded by
//! the codec of whoever sends it and decoded by the codec of whoever receives it, so the
//! client, the scheduler and every executor install this same codec — as they install the
//! same UDF registry.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::writer::{PartitionWriterExec, WriteSpec};

/// Leads an encoded `PartitionWriterExec`. Ballista's own payloads are protobuf messages
/// whose first byte is a field tag (0x0A…0x7A), never `L`.
const WRITER_TAG: &[u8] = b"LVRW1";

#[derive(Debug, Default)]
pub struct LiverecCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for LiverecCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(spec) = buf.strip_prefix(WRITER_TAG) else {
            return self.inner.try_decode(buf, inputs, ctx, converter);
        };
        let spec: WriteSpec = serde_json::from_slice(spec)
            .map_err(|e| DataFusionError::Internal(format!("bad PartitionWriterExec: {e}")))?;
        let [input] = inputs else {
            return Err(DataFusionError::Internal(format!(
                "PartitionWriterExec has one input, got {}",
                inputs.len()
            )));
        };
        Ok(Arc::new(PartitionWriterExec::new(input.clone(), spec)))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(writer) = node.downcast_ref::<PartitionWriterExec>() {
            buf.extend_from_slice(WRITER_TAG);
            serde_json::to_writer(&mut *buf, writer.spec())
                .map_err(|e| DataFusionError::Internal(e.to_string()))?;
            return Ok(());
        }
        self.inner.try_encode(node, buf, converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
