//! Times liverec's ALS solver (src/model/als.rs) on a likes table, for the comparison with
//! `implicit` in docs/benchmarks.md (bench/als_implicit.py fits the same confidences).
//!
//! Usage: als_fit LIKES.parquet [factors 32] [regularization 0.05] [iterations 15] [cg_steps 3]
//! LIKES.parquet: user_id, anchor_id (BIGINT), watch_s (DOUBLE); confidence 1 + ln(1 + watch_s).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use arrow::array::{Array, Float64Array, Int64Array};
use liverec::model::als::{self, AlsParams, Confidences, Solver};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .context("usage: als_fit LIKES.parquet [factors] [reg] [iterations] [cg_steps]")?;
    let arg = |i: usize, default: f64| {
        args.get(i)
            .map_or(Ok(default), |a| a.parse())
            .context("a number")
    };
    let params = AlsParams {
        factors: arg(2, 32.0)? as usize,
        regularization: arg(3, 0.05)? as f32,
        iterations: arg(4, 15.0)? as usize,
        cg_steps: arg(5, 3.0)? as usize,
        solver: Solver::ConjugateGradient,
        seed: 1,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?.build()?;
    let (mut rows, mut users, mut items) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("no column {name}"))
        };
        let u = col("user_id")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("user_id BIGINT")?
            .clone();
        let a = col("anchor_id")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("anchor_id BIGINT")?
            .clone();
        let w = col("watch_s")?
            .as_any()
            .downcast_ref::<Float64Array>()
            .context("watch_s DOUBLE")?
            .clone();
        for i in 0..batch.num_rows() {
            let next_u = users.len() as u32;
            let next_a = items.len() as u32;
            let uu = *users.entry(u.value(i)).or_insert(next_u);
            let aa = *items.entry(a.value(i)).or_insert(next_a);
            rows.push((uu, aa, 1.0 + (w.value(i) as f32).ln_1p()));
        }
    }
    let c = Confidences::from_triples(users.len(), items.len(), rows)?;
    let started = std::time::Instant::now();
    let model = als::fit(&c, &params)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "liverec ALS: {} users x {} items, {} likes, {} factors, {} iterations: fit {seconds:.2} s, loss {:.1} -> {:.1}",
        users.len(),
        items.len(),
        c.nnz(),
        params.factors,
        params.iterations,
        model.loss[0],
        model.loss.last().unwrap()
    );
    Ok(())
}
