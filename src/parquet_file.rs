//! Encodes one Parquet file with the columns of each row group encoded in parallel.
//!
//! Why: a sorted output is one stream, so one file, and arrow's `ArrowWriter` encodes it on
//! one thread — for a wide table (the exposure samples: 45 columns) that encoding was most
//! of the step, while DuckDB's COPY encodes in parallel. The file is what `ArrowWriter`
//! writes (same properties and row groups, the Arrow schema in the footer); only the work
//! is spread over threads.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::buffered::BufWriter;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::add_encoded_arrow_schema_to_metadata;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
    compute_leaves,
};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::writer::SerializedFileWriter;
use tokio::io::AsyncWriteExt;

use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Parquet properties of every file liverec writes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("liverec {}", crate::version::LIVEREC_VERSION))
        .build()
}

/// The encoder's output, handed to the object store after each row group.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("buffer lock"))
    }
}

/// Rows buffered before they are encoded into the row group's column writers (bounds the
/// raw data held: 64 k rows of the widest table are tens of MB).
const CHUNK_ROWS: usize = 64 * 1024;

pub struct ParquetFileWriter {
    file: SerializedFileWriter<SharedBuffer>,
    buffer: SharedBuffer,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The open row group's column writers and its rows so far.
    columns: Option<Vec<ArrowColumnWriter>>,
    group_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_groups: usize,
    sink: BufWriter,
}

fn io_error(e: std::io::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl ParquetFileWriter {
    pub fn try_new(sink: BufWriter, schema: SchemaRef) -> Result<Self> {
        let mut props = writer_properties();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let props = Arc::new(props);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let buffer = SharedBuffer::default();
        let file =
            SerializedFileWriter::new(buffer.clone(), parquet_schema.root_schema_ptr(), props)?;
        let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
        Ok(Self {
            file,
            buffer,
            factory,
            schema,
            columns: None,
            group_rows: 0,
            pending: Vec::new(),
            pending_rows: 0,
            row_groups: 0,
            sink,
        })
    }

    /// Buffers `batch`; full chunks are encoded, full row groups sent to the store.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let room = ROW_GROUP_ROWS - self.group_rows - self.pending_rows;
            let take = room.min(rest.num_rows());
            self.pending.push(rest.slice(0, take));
            self.pending_rows += take;
            rest = rest.slice(take, rest.num_rows() - take);
            if self.pending_rows >= CHUNK_ROWS
                || self.group_rows + self.pending_rows == ROW_GROUP_ROWS
            {
                self.encode_pending()?;
            }
            if self.group_rows == ROW_GROUP_ROWS {
                self.close_row_group()?;
                self.send().await?;
            }
        }
        Ok(())
    }

    /// Encodes the rest, writes the footer and completes the upload.
    pub async fn close(mut self) -> Result<ParquetMetaData> {
        if self.pending_rows > 0 {
            self.encode_pending()?;
        }
        if self.group_rows > 0 {
            self.close_row_group()?;
        }
        let Self {
            file,
            buffer,
            mut sink,
            ..
        } = self;
        let metadata = file.close()?;
        sink.write_all(&buffer.take()).await.map_err(io_error)?;
        sink.shutdown().await.map_err(io_error)?;
        Ok(metadata)
    }

    async fn send(&mut self) -> Result<()> {
        let bytes = self.buffer.take();
        self.sink.write_all(&bytes).await.map_err(io_error)
    }

    /// Encodes the pending batches into the open row group, each column on one of the cores.
    fn encode_pending(&mut self) -> Result<()> {
        let writers = match self.columns.take() {
            Some(writers) => writers,
            None => self.factory.create_column_writers(self.row_groups)?,
        };
        let mut leaves: Vec<Vec<ArrowLeafColumn>> =
            (0..writers.len()).map(|_| Vec::new()).collect();
        for batch in &self.pending {
            let mut leaf = 0;
            for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
                for l in compute_leaves(field, column)? {
                    leaves[leaf].push(l);
                    leaf += 1;
                }
            }
        }
        let jobs = writers.into_iter().zip(leaves).collect();
        self.columns = Some(in_parallel(jobs, |(mut writer, leaves)| {
            for leaf in &leaves {
                writer.write(leaf)?;
            }
            Ok(writer)
        })?);
        self.group_rows += self.pending_rows;
        self.pending.clear();
        self.pending_rows = 0;
        Ok(())
    }

    /// Finishes the open row group (its column chunks in parallel) and appends it.
    fn close_row_group(&mut self) -> Result<()> {
        let writers = self.columns.take().unwrap_or_default();
        let chunks: Vec<ArrowColumnChunk> = in_parallel(writers, |w| w.close())?;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.row_groups += 1;
        self.group_rows = 0;
        Ok(())
    }
}

/// `f` over `items` on all cores (items dealt round-robin); results in the items' order.
fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    let mut shares: Vec<Vec<(usize, T)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        shares[i % threads].push((i, item));
    }
    let f = &f;
    let done: Vec<Result<Vec<(usize, R)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || {
                    share
                        .into_iter()
                        .map(|(i, item)| Ok((i, f(item)?)))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ParquetError::General(
                        "a Parquet encoder thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let mut results = Vec::new();
    for share in done {
        results.extend(share?);
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
        TimestampMicrosecondArray, UInt64Array,
    };
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
    use object_store::buffered::BufWriter;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::{ParquetFileWriter, ROW_GROUP_ROWS};

    fn batch(schema: &Arc<Schema>, from: usize, rows: usize) -> RecordBatch {
        let ids = (from..from + rows).map(|i| i as i64);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter(
                ids.clone().map(|i| (i % 7 != 0).then_some(i)),
            )),
            Arc::new(StringArray::from_iter(
                ids.clone().map(|i| Some(format!("s{}", i % 13))),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.clone().map(|i| i as f64 / 3.0),
            )),
            Arc::new(UInt64Array::from_iter_values(ids.clone().map(|i| i as u64))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(ids.clone()).with_timezone("UTC")),
            Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(ids.map(
                |i| (i % 5 != 0).then(|| (0..i % 4).map(Some).collect::<Vec<_>>()),
            ))),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    /// Several row groups, batches that straddle them, nulls and nested columns: the file
    /// reads back row for row with its Arrow types, in row groups of the configured size.
    #[tokio::test]
    async fn reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("x", DataType::Float64, false),
            Field::new("u", DataType::UInt64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new(
                "l",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ),
        ]));
        let total = 2 * ROW_GROUP_ROWS + 12_345;
        let sink = BufWriter::new(store, Path::from("t.parquet"));
        let mut writer = ParquetFileWriter::try_new(sink, schema.clone()).unwrap();
        let mut written = Vec::new();
        let mut at = 0;
        while at < total {
            let rows = 40_000.min(total - at);
            let b = batch(&schema, at, rows);
            writer.write(&b).await.unwrap();
            written.push(b);
            at += rows;
        }
        let meta = writer.close().await.unwrap();
        assert_eq!(meta.file_metadata().num_rows() as usize, total);
        assert_eq!(meta.num_row_groups(), 3);
        assert_eq!(meta.row_group(0).num_rows() as usize, ROW_GROUP_ROWS);

        let file = std::fs::File::open(dir.path().join("t.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.schema().as_ref(), schema.as_ref());
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let (read, written) = (
            arrow::compute::concat_batches(&schema, &read).unwrap(),
            arrow::compute::concat_batches(&schema, &written).unwrap(),
        );
        assert_eq!(read, written);
    }

    /// No rows: a valid file with the schema and no row groups.
    #[tokio::test]
    async fn an_empty_file_has_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let sink = BufWriter::new(store, Path::from("e.parquet"));
        let meta = ParquetFileWriter::try_new(sink, schema.clone())
            .unwrap()
            .close()
            .await
            .unwrap();
        assert_eq!(meta.num_row_groups(), 0);
        let file = std::fs::File::open(dir.path().join("e.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.schema().as_ref(), schema.as_ref());
    }
}
