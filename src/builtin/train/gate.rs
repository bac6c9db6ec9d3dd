//! The publication gate: a model is published (LATEST moved to it) when its validation AUC
//! reaches `min_auc` and is within `max_auc_drop` of the model LATEST names.

use anyhow::Result;

use super::Settings;
use crate::doc::model::{Gate, Metrics, ModelMetrics};
use crate::model::publish::{self, Latest};
use crate::storage::Storage;

/// A model that trained fine but did not pass the gate (not worth retrying).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateFailed(pub String);

/// The gate's decision, and what LATEST was when it was read (the publish is conditional on
/// it still being so).
pub(super) async fn decide(
    model_dir: &Storage,
    validation: &Metrics,
    s: &Settings,
) -> Result<(Gate, Latest)> {
    let seen = publish::latest(model_dir).await?;
    let previous = seen.version.clone();
    let previous_auc = match &previous {
        Some(v) => {
            let bytes = model_dir.at(v).read(publish::METRICS).await?;
            let m: ModelMetrics = serde_json::from_slice(&bytes)?;
            Some(m.validation.auc).filter(|a| !a.is_nan())
        }
        None => None,
    };
    let auc = validation.auc;
    let mut reasons = Vec::new();
    if auc.is_nan() || auc < s.min_auc {
        reasons.push(format!("AUC {auc:.4} < min_auc {}", s.min_auc));
    }
    if let Some(prev) = previous_auc
        && auc < prev - s.max_auc_drop
    {
        reasons.push(format!(
            "AUC {auc:.4} is more than max_auc_drop {} below LATEST {} ({prev:.4})",
            s.max_auc_drop,
            previous.as_deref().unwrap_or("")
        ));
    }
    let passed = reasons.is_empty();
    let reason = if passed {
        format!(
            "passed: AUC {auc:.4} ≥ min_auc {}{}",
            s.min_auc,
            previous_auc.map_or(String::new(), |p| format!(
                ", within {} of LATEST ({p:.4})",
                s.max_auc_drop
            ))
        )
    } else {
        format!("failed: {}", reasons.join("; "))
    };
    let gate = Gate {
        passed,
        reason,
        min_auc: s.min_auc,
        max_auc_drop: s.max_auc_drop,
        previous_version: previous,
        previous_auc,
    };
    Ok((gate, seen))
}
