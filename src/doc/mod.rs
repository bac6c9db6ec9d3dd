//! The JSON documents liverec writes, one struct each, used by the writer and every reader
//! alike (no reader picks fields out of raw JSON):
//! - `partition::PartitionManifest`, `<table>/dt=D/_manifest.json`;
//! - `quality`, the data-quality results recorded in those manifests;
//! - `training_set::TrainingSetManifest`, `training_sets/end=E/manifest.json`;
//! - `model::ModelManifest` and `model::ModelMetrics`, a model version's `manifest.json`
//!   and `metrics.json`;
//! - `recall::RecallRow`, a row of `metrics/recall/dt=D.json`.
//!
//! The workflow's own documents (run state, ledger, summary) live in `workflow::state`.

pub mod model;
pub mod partition;
pub mod quality;
pub mod recall;
pub mod training_set;

/// The value of a metric that was not computed (a missing JSON field).
pub fn nan() -> f64 {
    f64::NAN
}

/// Serde for an `f64` that may be NaN (undefined metric): written as `null` (JSON has no
/// NaN), read back as NaN.
pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::model::Metrics;

    #[test]
    fn an_undefined_metric_round_trips_as_null() {
        let m = Metrics {
            rows: 3,
            positives: 0,
            positive_rate: 0.0,
            auc: f64::NAN,
            log_loss: 0.5,
            normalized_entropy: 1.0,
            calibration: f64::NAN,
            mean_prediction: 0.1,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"auc\":null"), "{text}");
        let back: Metrics = serde_json::from_str(&text).unwrap();
        assert!(back.auc.is_nan() && back.calibration.is_nan());
        assert_eq!(back.log_loss, 0.5);
    }
}
