//! Offline metrics of predicted probabilities against 0/1 labels, with sample weights
//! (a downsampled negative counts 1/rate times, so the metrics describe the full traffic).

pub use crate::doc::model::{Curves, Metrics};

const EPS: f64 = 1e-15;

pub fn evaluate(p: &[f64], y: &[f64], w: &[f64]) -> Metrics {
    let (mut sw, mut swy, mut swp, mut ll) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..p.len() {
        let q = p[i].clamp(EPS, 1.0 - EPS);
        sw += w[i];
        swy += w[i] * y[i];
        swp += w[i] * p[i];
        ll -= w[i] * (y[i] * q.ln() + (1.0 - y[i]) * (1.0 - q).ln());
    }
    let sw = sw.max(EPS);
    let rate = swy / sw;
    let log_loss = ll / sw;
    let r = rate.clamp(EPS, 1.0 - EPS);
    let entropy = -(r * r.ln() + (1.0 - r) * (1.0 - r).ln());
    Metrics {
        rows: p.len() as u64,
        positives: y.iter().filter(|v| **v == 1.0).count() as u64,
        positive_rate: rate,
        auc: auc(p, y, w),
        log_loss,
        normalized_entropy: log_loss / entropy,
        calibration: if swy > 0.0 { swp / swy } else { f64::NAN },
        mean_prediction: swp / sw,
    }
}

/// Indices sorted by score descending (ties kept together).
fn order_desc(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    idx
}

/// Weighted area under the ROC curve; tied scores count half (trapezoid over tie groups).
pub fn auc(p: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let idx = order_desc(p);
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let (mut gtp, mut gfp) = (0.0, 0.0);
        let mut j = i;
        while j < idx.len() && p[idx[j]] == p[idx[i]] {
            let k = idx[j];
            if y[k] == 1.0 {
                gtp += w[k];
            } else {
                gfp += w[k];
            }
            j += 1;
        }
        area += gfp * (tp + gtp / 2.0);
        tp += gtp;
        fp += gfp;
        i = j;
    }
    if tp == 0.0 || fp == 0.0 {
        return f64::NAN;
    }
    area / (tp * fp)
}

pub fn curves(p: &[f64], y: &[f64], w: &[f64], max_points: usize, bins: usize) -> Curves {
    let idx = order_desc(p);
    let total_pos: f64 = idx.iter().filter(|&&k| y[k] == 1.0).map(|&k| w[k]).sum();
    let total_neg: f64 = idx.iter().filter(|&&k| y[k] != 1.0).map(|&k| w[k]).sum();
    let step = (idx.len() / max_points.max(1)).max(1);
    let mut roc = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (n, &k) in idx.iter().enumerate() {
        if y[k] == 1.0 {
            tp += w[k];
        } else {
            fp += w[k];
        }
        if n % step == step - 1 || n + 1 == idx.len() {
            roc.push((fp / total_neg.max(EPS), tp / total_pos.max(EPS)));
        }
    }
    // Calibration: bins of equal weight over predictions in ascending order.
    let total: f64 = w.iter().sum();
    let mut calibration_bins = Vec::new();
    let (mut bw, mut bp, mut by, mut seen) = (0.0, 0.0, 0.0, 0.0);
    let mut bin = 0usize;
    for &k in idx.iter().rev() {
        bw += w[k];
        bp += w[k] * p[k];
        by += w[k] * y[k];
        seen += w[k];
        if seen >= total * (bin + 1) as f64 / bins as f64 - 1e-9 {
            calibration_bins.push((bp / bw, by / bw, bw));
            (bw, bp, by) = (0.0, 0.0, 0.0);
            bin += 1;
        }
    }
    if bw > 0.0 {
        calibration_bins.push((bp / bw, by / bw, bw));
    }
    Curves {
        roc,
        calibration_bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_ties() {
        let ones = [1.0; 4];
        // Perfect ranking, reversed ranking, all tied.
        assert_eq!(
            auc(&[0.9, 0.8, 0.2, 0.1], &[1.0, 1.0, 0.0, 0.0], &ones),
            1.0
        );
        assert_eq!(
            auc(&[0.1, 0.2, 0.8, 0.9], &[1.0, 1.0, 0.0, 0.0], &ones),
            0.0
        );
        assert_eq!(auc(&[0.5; 4], &[1.0, 1.0, 0.0, 0.0], &ones), 0.5);
        // 3 of 4 positive/negative pairs ordered correctly.
        let a = auc(&[0.9, 0.4, 0.5, 0.1], &[1.0, 1.0, 0.0, 0.0], &ones);
        assert!((a - 0.75).abs() < 1e-12);
        // A weight of 2 on a negative equals duplicating it.
        let weighted = auc(&[0.9, 0.4, 0.5], &[1.0, 1.0, 0.0], &[1.0, 1.0, 2.0]);
        let duplicated = auc(&[0.9, 0.4, 0.5, 0.5], &[1.0, 1.0, 0.0, 0.0], &ones);
        assert!((weighted - duplicated).abs() < 1e-12);
    }

    #[test]
    fn log_loss_and_entropy_of_the_base_rate() {
        let y = [1.0, 0.0, 0.0, 0.0];
        let m = evaluate(&[0.25; 4], &y, &[1.0; 4]);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((m.log_loss - h).abs() < 1e-12);
        assert!((m.normalized_entropy - 1.0).abs() < 1e-12);
        assert!((m.calibration - 1.0).abs() < 1e-12);
        assert_eq!(m.positives, 1);
    }

    #[test]
    fn curves_end_at_one_and_bins_cover_all_weight() {
        let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let c = curves(&p, &y, &[1.0; 6], 100, 3);
        assert_eq!(*c.roc.last().unwrap(), (1.0, 1.0));
        assert_eq!(c.calibration_bins.len(), 3);
        let total: f64 = c.calibration_bins.iter().map(|b| b.2).sum();
        assert_eq!(total, 6.0);
    }
}
