//! liverec: the daily batch side of a live-streaming recommender.
//!
//! The pipeline is declared, not coded: `sql/` holds every query, `jobs/` declares each job
//! (inputs and their day windows, steps, outputs, typed parameters, checks), `workflows/` the
//! DAG, and `udfs/` the Rust functions. This crate is the machinery that runs them: one session
//! builder (`engine`), one storage seam (`storage`), one atomic writer (`writer`), the job
//! runner (`runner`), the input contract (`contract`) and row-level data quality (`quality`) and the data generator (`generator`).

pub mod allocator;
pub mod bench;
pub mod builtin;
pub mod cli;
pub mod cluster;
pub mod committed;
pub mod contract;
pub mod engine;
pub mod generator;
pub mod import;
pub mod job;
pub mod manifest;
pub mod model;
pub mod params;
pub mod parquet_file;
pub mod progress;
pub mod project;
pub mod quality;
pub mod runner;
pub mod s3;
pub mod sql;
pub mod storage;
pub mod validate;
pub mod workflow;
pub mod writer;
