//! liverec: the daily batch side of a live-streaming recommender.
//!
//! The pipeline is declared, not coded: `sql/` holds every query, `jobs/` declares each job
//! (inputs and their day windows, steps, outputs, typed parameters, checks), `workflows/` the
//! DAG, and `udfs/` the Rust functions. This crate is the machinery that runs them, in
//! layers that import downward only:
//!
//! 1. leaves: `error`, `fault`, `version`, `layout` (every output path), `params`, `contract`,
//!    `location`, `doc` (one struct per JSON document), `parquet_file`, `progress`,
//!    `allocator`;
//! 2. storage: `storage` (the one seam: local disk and S3, the committed view) and `writer`
//!    (the one atomic writer);
//! 3. engine: `project` (the embedded project files), `job` (declarations), `engine` (the one
//!    session builder, embedded and cluster), `query` (running `sql/` files);
//! 4. `quality` (row-level data quality) and `model` (a pure library of models);
//! 5. `runner` (SQL jobs), then `builtin` (Rust jobs, which run SQL sub-jobs through the
//!    runner), then `dispatch` (any job by its declaration);
//! 6. `workflow`, `generator`, `import`, `validate`, `adhoc`, `bench`, `cluster`;
//! 7. `cli`.

pub mod adhoc;
pub mod allocator;
pub mod bench;
pub mod builtin;
pub mod cli;
pub mod cluster;
pub mod contract;
pub mod dispatch;
pub mod doc;
pub mod engine;
pub mod error;
pub mod fault;
pub mod generator;
pub mod import;
pub mod job;
pub mod layout;
pub mod location;
pub mod model;
pub mod params;
pub mod parquet_file;
pub mod progress;
pub mod project;
pub mod quality;
pub mod query;
pub mod runner;
pub mod signals;
pub mod storage;
pub mod validate;
pub mod version;
pub mod workflow;
pub mod writer;
