//! liverec's Rust UDFs: the only place they live.
//!
//! Ballista ships UDFs to executors by name only, so the client, the scheduler and every
//! executor must register exactly the same set. [`register_all`] is that one set; every
//! session builder in liverec calls it and nothing else registers functions.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;

mod sample_unit;
mod ts_in_day;

pub use sample_unit::SampleUnit;
pub use ts_in_day::TsInDay;

/// Every scalar UDF liverec defines, in registration order.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(TsInDay::new())),
        Arc::new(ScalarUDF::from(SampleUnit::new())),
    ]
}

/// Registers all liverec UDFs into a registry (a `SessionState`, a `SessionContext`, or
/// Ballista's executor registry). Built-in functions are kept.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in scalar_udfs() {
        registry.register_udf(udf)?;
    }
    Ok(())
}

/// Names of every function [`register_all`] installs (used to check a remote registry).
pub fn function_names() -> Vec<String> {
    scalar_udfs().iter().map(|f| f.name().to_string()).collect()
}
