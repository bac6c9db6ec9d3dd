//! liverec's Rust UDFs: the only place they live.
//!
//! Ballista ships UDFs to executors by name only, so the client, the scheduler and every
//! executor must register exactly the same set. [`register_all`] is that one set; every
//! session builder in liverec calls it and nothing else registers functions.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

mod args;
mod bit_count;
mod held_groups;
mod id_map;
mod item_neighbours;
mod itemcf_candidates;
mod latest_k;
mod lists;
mod one_group;
mod sample_unit;
mod top_k;
mod ts_in_day;

pub use bit_count::BitCount;
pub use item_neighbours::ItemNeighbours;
pub use itemcf_candidates::ItemcfCandidates;
pub use latest_k::LatestK;
pub use sample_unit::SampleUnit;
pub use ts_in_day::TsInDay;

/// Every scalar UDF liverec defines, in registration order.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(TsInDay::new())),
        Arc::new(ScalarUDF::from(SampleUnit::new())),
        Arc::new(ScalarUDF::from(BitCount::new())),
    ]
}

/// Every aggregate UDF liverec defines.
pub fn aggregate_udfs() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(LatestK::new())),
        Arc::new(AggregateUDF::from(ItemNeighbours::new())),
        Arc::new(AggregateUDF::from(ItemcfCandidates::new())),
    ]
}

/// Registers all liverec UDFs into a registry (a `SessionState`, a `SessionContext`, or
/// Ballista's executor registry). Built-in functions are kept.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in scalar_udfs() {
        registry.register_udf(udf)?;
    }
    for udaf in aggregate_udfs() {
        registry.register_udaf(udaf)?;
    }
    Ok(())
}

/// Names of every function [`register_all`] installs (used to check a remote registry).
pub fn function_names() -> Vec<String> {
    let scalars = scalar_udfs().into_iter().map(|f| f.name().to_string());
    scalars
        .chain(aggregate_udfs().into_iter().map(|f| f.name().to_string()))
        .collect()
}
