//! The publication gate, champion against challenger on the same rows. The champion is the
//! version LATEST names, when it predicts what the new model (the challenger) predicts: it is
//! scored with the serving scorer (`model::artifact::Scorer`, from its verified artifact) on
//! exactly the challenger's validation rows. The challenger is published (LATEST moved to it)
//! when its AUC reaches `min_auc` and is at most `max_auc_drop` below the champion's on those
//! rows. Without a usable champion — none yet, one trained for another label or sample table,
//! or one reading a feature today's samples lack — the gate says so and decides on `min_auc`
//! alone.

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::{Frames, Settings};
use crate::doc::model::{ChampionEval, Gate, Metrics};
use crate::doc::training_set::TrainingSetManifest;
use crate::model::FeatureList;
use crate::model::artifact::{FeatureKind, ModelArtifact, Scorer};
use crate::model::data::{self, ReadSpec};
use crate::model::fit;
use crate::model::metrics;
use crate::model::publish::{self, Latest};
use crate::storage::Storage;

/// A model that trained fine but did not pass the gate (not worth retrying).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateFailed(pub String);

/// What the gate compares the challenger with.
pub(super) struct GateInput<'a> {
    pub ctx: &'a SessionContext,
    pub model_dir: &'a Storage,
    /// The samples table the challenger was trained and validated on.
    pub table: &'a Storage,
    pub set: &'a TrainingSetManifest,
    pub frames: &'a Frames,
    pub settings: &'a Settings,
    pub validation: &'a Metrics,
}

/// The gate's decision, and what LATEST was when it was read (the publish is conditional on
/// it still being so).
pub(super) async fn decide(g: &GateInput<'_>) -> Result<(Gate, Latest)> {
    let seen = publish::latest(g.model_dir).await?;
    let (champion, note) = match &seen.version {
        None => (None, Some("no published model yet".to_string())),
        Some(version) => match champion(g, version).await? {
            Ok(eval) => (Some(eval), None),
            Err(why) => (None, Some(why)),
        },
    };
    let s = g.settings;
    let auc = g.validation.auc;
    let mut reasons = Vec::new();
    if auc.is_nan() || auc < s.min_auc {
        reasons.push(format!("AUC {auc:.4} < min_auc {}", s.min_auc));
    }
    if let Some(c) = &champion
        && auc < c.validation.auc - s.max_auc_drop
    {
        reasons.push(format!(
            "AUC {auc:.4} is more than max_auc_drop {} below the champion {} on the same rows ({:.4})",
            s.max_auc_drop, c.version, c.validation.auc
        ));
    }
    let passed = reasons.is_empty();
    let against = match (&champion, &note) {
        (Some(c), _) => format!(
            ", within {} of the champion {} on the same rows ({:.4})",
            s.max_auc_drop, c.version, c.validation.auc
        ),
        (None, Some(why)) => format!("; {why}: gated on min_auc alone"),
        (None, None) => String::new(),
    };
    let reason = if passed {
        format!("passed: AUC {auc:.4} ≥ min_auc {}{against}", s.min_auc)
    } else {
        let context = note.as_ref().map_or(String::new(), |why| {
            format!(" ({why}: gated on min_auc alone)")
        });
        format!("failed: {}{context}", reasons.join("; "))
    };
    let gate = Gate {
        passed,
        reason,
        min_auc: s.min_auc,
        max_auc_drop: s.max_auc_drop,
        previous_version: seen.version.clone(),
        champion,
        champion_note: note,
    };
    Ok((gate, seen))
}

/// The champion `version` scored on the challenger's validation rows, or why it cannot be.
async fn champion(
    g: &GateInput<'_>,
    version: &str,
) -> Result<std::result::Result<ChampionEval, String>> {
    let (artifact, manifest) = publish::load_verified(&g.model_dir.at(version)).await?;
    let theirs = manifest
        .params
        .get("sample_table")
        .and_then(|v| v.as_str())
        .unwrap_or("samples");
    if theirs != g.settings.sample_table {
        return Ok(Err(format!(
            "LATEST {version} was trained on {theirs} (another label), not {}: not a champion for this model",
            g.settings.sample_table
        )));
    }
    let features = feature_list(&artifact);
    let (label, weight) = g.settings.label();
    let read = data::read_days(
        g.ctx,
        g.table,
        &[g.set.validation_day],
        &ReadSpec {
            features: &features,
            label,
            weight,
            rate: 1.0,
            seed: g.settings.train_seed,
        },
    )
    .await;
    let rows = match read {
        Ok(rows) => rows,
        // A champion reading a column today's samples lack cannot be scored on them.
        Err(e) if format!("{e:#}").contains("no column") => {
            return Ok(Err(format!(
                "the champion {version} reads a feature today's samples lack ({e:#})"
            )));
        }
        Err(e) => return Err(e),
    };
    let ours = &g.frames.validation;
    if rows.user_id != ours.user_id || rows.anchor_id != ours.anchor_id {
        anyhow::bail!("the champion's validation rows are not the challenger's");
    }
    let scorer = Scorer::new(artifact)?;
    let (label, weight) = (ours.label.clone(), ours.weight.clone());
    let (validation, curves) = tokio::task::spawn_blocking(move || {
        let p = fit::score_frame(&scorer, &rows);
        (
            metrics::evaluate(&p, &label, &weight),
            metrics::curves(&p, &label, &weight, 200, 10),
        )
    })
    .await?;
    Ok(Ok(ChampionEval {
        version: version.to_string(),
        validation,
        curves,
    }))
}

/// The features a model reads, in its artifact's order.
fn feature_list(artifact: &ModelArtifact) -> FeatureList {
    let of = |kind| {
        artifact
            .features
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.name.clone())
            .collect()
    };
    FeatureList {
        numeric: of(FeatureKind::Numeric),
        categorical: of(FeatureKind::Categorical),
    }
}
