//! Preprocessing learned from the training rows: vocabularies of categorical features,
//! standardization of numeric ones (LR), and the two input layouts — the dense LR design
//! matrix and the column-major tree input.

use std::collections::BTreeMap;

use ndarray::{Array2, ShapeBuilder};

use super::FeatureList;
use super::artifact::{NumericTransform, Vocabulary, slog1p, standardize};
use super::data::{Frame, NULL_CODE};

pub fn vocabularies(frame: &Frame, features: &FeatureList, min_count: u64) -> Vec<Vocabulary> {
    features
        .categorical
        .iter()
        .zip(&frame.categorical)
        .map(|(name, column)| {
            let mut counts = vec![0u64; column.dict.len()];
            for &c in &column.codes {
                if c != NULL_CODE {
                    counts[c as usize] += 1;
                }
            }
            let mut values: Vec<String> = column
                .dict
                .iter()
                .zip(&counts)
                .filter(|(_, n)| **n >= min_count)
                .map(|(v, _)| v.clone())
                .collect();
            values.sort();
            Vocabulary {
                feature: name.clone(),
                oov_index: values.len(),
                values,
                min_count,
            }
        })
        .collect()
}

pub fn numeric_transforms(frame: &Frame, features: &FeatureList) -> Vec<NumericTransform> {
    features
        .numeric
        .iter()
        .zip(&frame.numeric)
        .map(|(name, values)| {
            let (mut n, mut sum, mut sq) = (0.0, 0.0, 0.0);
            for v in values.iter().filter(|v| !v.is_nan()) {
                let t = slog1p(*v);
                n += 1.0;
                sum += t;
                sq += t * t;
            }
            let mean = if n > 0.0 { sum / n } else { 0.0 };
            let var = if n > 0.0 { sq / n - mean * mean } else { 0.0 };
            let std = var.max(0.0).sqrt();
            NumericTransform {
                feature: name.clone(),
                transform: "slog1p".into(),
                mean,
                std: if std > 1e-12 { std } else { 1.0 },
            }
        })
        .collect()
}

/// A column of the LR design matrix.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Numeric(usize),
    Category(usize, usize),
    Oov(usize),
}

/// Column layout: numeric features, then per categorical feature its vocabulary values and
/// the out-of-vocabulary bucket.
pub fn lr_columns(transforms: &[NumericTransform], vocabs: &[Vocabulary]) -> Vec<Column> {
    let mut cols: Vec<Column> = (0..transforms.len()).map(Column::Numeric).collect();
    for (j, v) in vocabs.iter().enumerate() {
        cols.extend((0..v.values.len()).map(|k| Column::Category(j, k)));
        cols.push(Column::Oov(j));
    }
    cols
}

/// Vocabulary index of every row of every categorical feature.
pub fn category_indices(frame: &Frame, vocabs: &[Vocabulary]) -> Vec<Vec<usize>> {
    vocabs
        .iter()
        .zip(&frame.categorical)
        .map(|(vocab, column)| {
            // Map the frame's dictionary once, then each row by code.
            let by_code: Vec<usize> = column.dict.iter().map(|v| vocab.index(Some(v))).collect();
            column
                .codes
                .iter()
                .map(|&c| {
                    if c == NULL_CODE {
                        vocab.oov_index
                    } else {
                        by_code[c as usize]
                    }
                })
                .collect()
        })
        .collect()
}

pub fn lr_design(
    frame: &Frame,
    transforms: &[NumericTransform],
    vocabs: &[Vocabulary],
    columns: &[Column],
) -> Array2<f64> {
    let rows = frame.rows();
    // Column-major: linfa's gradient is x^T · r, which ndarray (without BLAS) computes row by
    // row of x^T — contiguous only when x is column-major (measured 10x faster).
    let mut x = Array2::<f64>::zeros((rows, columns.len()).f());
    let mut offsets = BTreeMap::new();
    for (c, col) in columns.iter().enumerate() {
        match col {
            Column::Numeric(j) => {
                let t = &transforms[*j];
                for (i, v) in frame.numeric[*j].iter().enumerate() {
                    x[[i, c]] = standardize(*v, t.mean, t.std);
                }
            }
            Column::Category(j, 0) => {
                offsets.insert(*j, c);
            }
            _ => {}
        }
    }
    for (j, idx) in category_indices(frame, vocabs).iter().enumerate() {
        // Columns of feature j start at its first value (or at its OOV column if the
        // vocabulary is empty); the OOV column follows the values.
        let start = offsets.get(&j).copied().unwrap_or_else(|| {
            columns
                .iter()
                .position(|c| *c == Column::Oov(j))
                .unwrap_or(0)
        });
        for (i, k) in idx.iter().enumerate() {
            x[[i, start + k]] = 1.0;
        }
    }
    x
}

/// Tree input, column-major: numeric features' raw values, then categorical features'
/// vocabulary indices (missing = NaN), as `ModelArtifact` documents.
pub fn tree_input(frame: &Frame, vocabs: &[Vocabulary]) -> Vec<f64> {
    let rows = frame.rows();
    let mut data = Vec::with_capacity(rows * (frame.numeric.len() + vocabs.len()));
    for column in &frame.numeric {
        data.extend_from_slice(column);
    }
    for (vocab, column) in vocabs.iter().zip(&frame.categorical) {
        let by_code: Vec<f64> = column
            .dict
            .iter()
            .map(|v| vocab.index(Some(v)) as f64)
            .collect();
        data.extend(column.codes.iter().map(|&c| {
            if c == NULL_CODE {
                f64::NAN
            } else {
                by_code[c as usize]
            }
        }));
    }
    data
}
