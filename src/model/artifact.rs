//! `model.json` and its scorer live in the `liverec-artifact` crate (artifact/), which
//! serving can depend on without the engine; liverec uses them from here.

pub use liverec_artifact::*;
