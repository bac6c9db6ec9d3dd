//! Ranking models: LR (linfa), GBDT (forust-ml) and GBDT+LR, trained on the leakage-free
//! training sets, validated on a later day, published as versioned artifacts that
//! `liverec score` — and the serving team — can evaluate from `model.json` alone.

pub mod artifact;
pub mod columns;
pub mod data;
pub mod gbdt;
pub mod lr;
pub mod metrics;
pub mod prep;
pub mod publish;
pub mod report;
pub mod score;
pub mod train;
