//! Jobs implemented in Rust rather than SQL (the names `job::BUILTINS` lists): `quality`
//! (the data-quality check of a day), `training_set` (runs the SQL jobs `profiles` and
//! `samples` over M label days and describes the result), `train` (fits, gates and
//! publishes a ranking model), `als` and `als_items` (factorize the likes into vectors and a
//! candidates channel). They run SQL sub-jobs through `runner`, below them.

mod als;
mod label_days;
mod quality;
mod tiles;
pub mod train;
pub mod training_set;

use anyhow::{Result, bail};

use crate::params::Params;
use crate::runner::{RunReport, RunRequest};

pub use train::GateFailed;

/// Runs the builtin `name` with bound parameters.
pub async fn run(name: &str, req: &RunRequest, params: &Params) -> Result<RunReport> {
    match name {
        "training_set" => training_set::run(req, params).await,
        "train" => train::run(req, params).await,
        "quality" => quality::run(req, params).await,
        "als" => als::run(req, params, &als::PLATFORM).await,
        "als_items" => als::run(req, params, &als::ITEMS).await,
        other => bail!("unknown builtin `{other}`"),
    }
}
