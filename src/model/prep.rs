//! Preprocessing learned from the training rows: vocabularies of categorical features,
//! standardization of numeric ones (LR), and the two input layouts — the LR's rows (a
//! [`Design`]) and the column-major tree input.

use super::FeatureList;
use super::artifact::{NumericTransform, Vocabulary, slog1p, standardize};
use super::data::{Frame, NULL_CODE};
use super::design::Design;

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

/// Column layout of the LR inputs: numeric features, then per categorical feature its
/// vocabulary values and the out-of-vocabulary bucket.
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

/// The LR inputs of every row in the [`lr_columns`] layout: standardized numeric values,
/// and for each categorical feature the one column that is 1.
pub fn lr_rows(frame: &Frame, transforms: &[NumericTransform], vocabs: &[Vocabulary]) -> Design {
    let rows = frame.rows();
    let n = transforms.len();
    // First column of each categorical feature: its values, then its OOV bucket.
    let mut starts = Vec::with_capacity(vocabs.len());
    let mut width = n;
    for v in vocabs {
        starts.push(width);
        width += v.oov_index + 1;
    }
    let categories = category_indices(frame, vocabs);
    let mut x = Design::with_capacity(n, width, rows, rows * vocabs.len());
    let mut values = vec![0.0; n];
    for i in 0..rows {
        for (j, t) in transforms.iter().enumerate() {
            values[j] = standardize(frame.numeric[j][i], t.mean, t.std);
        }
        x.push_row(
            &values,
            starts.iter().zip(&categories).map(|(s, c)| s + c[i]),
        );
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
