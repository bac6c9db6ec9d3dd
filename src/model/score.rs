//! `liverec score`: the reference scorer. It reads only a model folder (checksums verified)
//! and Parquet rows carrying the model's feature columns, and writes the rows' ids, label
//! (when present) and `score` — no training code is involved.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::artifact::{RowValues, Scorer};
use super::columns;
use super::publish;

/// Parquet files of `input`: the file itself, or the `*.parquet` files of a folder, sorted.
fn input_files(input: &Path) -> Result<Vec<std::path::PathBuf>> {
    if input.is_file() {
        return Ok(vec![input.to_path_buf()]);
    }
    let mut files: Vec<_> = std::fs::read_dir(input)
        .with_context(|| format!("cannot read {}", input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".parquet") && !n.starts_with(['_', '.']))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no .parquet files", input.display());
    }
    Ok(files)
}

/// Scores one batch.
pub fn score_batch(scorer: &Scorer, batch: &RecordBatch, source: &str) -> Result<Vec<f64>> {
    let mut numeric: Vec<Vec<f64>> = Vec::new();
    for f in scorer.numeric_features() {
        let mut v = Vec::with_capacity(batch.num_rows());
        columns::numeric(batch, &f.name, source, &mut v)?;
        numeric.push(v);
    }
    let mut cats: Vec<Vec<Option<String>>> = Vec::new();
    for f in scorer.categorical_features() {
        cats.push(columns::strings(batch, &f.name, source)?);
    }
    let mut row_num = vec![0.0; numeric.len()];
    Ok((0..batch.num_rows())
        .map(|i| {
            for (j, c) in numeric.iter().enumerate() {
                row_num[j] = c[i];
            }
            let row_cat: Vec<Option<&str>> = cats.iter().map(|c| c[i].as_deref()).collect();
            scorer.probability(&RowValues {
                numeric: &row_num,
                categorical: &row_cat,
            })
        })
        .collect())
}

pub struct ScoreSummary {
    pub version_dir: crate::storage::Location,
    pub rows: u64,
}

/// Scores with the model at `model` (a local path or an `s3://` URL of a version folder or
/// a model folder).
pub async fn run(model: &str, input: &Path, output: &Path) -> Result<ScoreSummary> {
    let dir = crate::storage::Storage::open(crate::storage::Location::parse(model)?)?;
    let version_dir = publish::resolve(&dir).await?;
    let (artifact, _manifest) = publish::load_verified(&version_dir).await?;
    let scorer = Scorer::new(artifact)?;
    let keep = [
        "dt",
        "user_id",
        "anchor_id",
        "label",
        "watch30",
        "sample_weight",
    ];
    let tmp = output.with_file_name(format!(
        ".{}.{}",
        output
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("scored"),
        uuid::Uuid::new_v4().simple()
    ));
    let mut writer: Option<ArrowWriter<std::fs::File>> = None;
    let mut rows = 0u64;
    let result = (|| -> Result<()> {
        for path in input_files(input)? {
            let source = path.display().to_string();
            let file =
                std::fs::File::open(&path).with_context(|| format!("cannot open {source}"))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("{source}: not a readable Parquet file"))?
                .build()?;
            for batch in reader {
                let batch = batch.with_context(|| format!("reading {source}"))?;
                let scores = score_batch(&scorer, &batch, &source)?;
                let mut fields = Vec::new();
                let mut arrays: Vec<ArrayRef> = Vec::new();
                for name in keep {
                    if let Ok(i) = batch.schema().index_of(name) {
                        fields.push(batch.schema().field(i).clone());
                        arrays.push(batch.column(i).clone());
                    }
                }
                fields.push(Field::new("score", DataType::Float64, false));
                arrays.push(Arc::new(Float64Array::from(scores)));
                let out = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
                if writer.is_none() {
                    let f = std::fs::File::create(&tmp)
                        .with_context(|| format!("cannot create {}", tmp.display()))?;
                    writer = Some(ArrowWriter::try_new(
                        f,
                        out.schema(),
                        Some(crate::parquet_file::writer_properties()),
                    )?);
                }
                if let Some(w) = writer.as_mut() {
                    w.write(&out)
                        .with_context(|| format!("writing {}", output.display()))?;
                }
                rows += out.num_rows() as u64;
            }
        }
        match writer.take() {
            Some(w) => {
                w.close()?;
            }
            None => bail!("{}: no rows to score", input.display()),
        }
        std::fs::rename(&tmp, output)
            .with_context(|| format!("cannot write {}", output.display()))?;
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result?;
    Ok(ScoreSummary {
        version_dir: version_dir.loc,
        rows,
    })
}
