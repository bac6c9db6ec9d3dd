//! The UDAF against the plain-SQL definition (sql/itemcf/reference/sim.sql), run as the jobs
//! run both, and its argument rules.

use std::collections::HashMap;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::prelude::{SessionConfig, SessionContext};

/// The job's query and the plain-SQL definition, as the jobs run them.
const NEIGHBOURS_SQL: &str = include_str!("../../../sql/itemcf/neighbours.sql");
const REFERENCE_SQL: &str = include_str!("../../../sql/itemcf/reference/sim.sql");

type Row = (i64, i64, u64, i64, u64);

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
        let (a, n, s, c, r) = (
            col("anchor_id"),
            col("neighbor_id"),
            col("score"),
            col("cooccurrence"),
            col("rank"),
        );
        for i in 0..b.num_rows() {
            out.push((
                a.as_primitive::<Int64Type>().value(i),
                n.as_primitive::<Int64Type>().value(i),
                // Bit for bit: the UDAF must do the reference's floating-point operations.
                s.as_primitive::<Float64Type>().value(i).to_bits(),
                c.as_primitive::<Int64Type>().value(i),
                r.as_primitive::<UInt64Type>().value(i),
            ));
        }
    }
    out.sort_unstable();
    out
}

async fn run(ctx: &SessionContext, sql: &str, params: &HashMap<String, ScalarValue>) -> Vec<Row> {
    let df = ctx.sql(sql).await.unwrap();
    rows(
        &df.with_param_values(params.clone())
            .unwrap()
            .collect()
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn equals_the_reference_sql() -> datafusion::common::Result<()> {
    // Four partitions: partial states are merged across them.
    let mut ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    crate::register_all(&mut ctx)?;
    // 400 users, 150 anchors (some ids negative: buckets are Euclidean), skewed baskets,
    // and weights that are not 1 for the weighted variant.
    ctx.sql(
        "CREATE VIEW raw AS
         SELECT value % 400 AS user_id,
                ((value * 7919) % ((value % 7) * 20 + 10)) - 30 AS anchor_id,
                1.0 / (1.0 + CAST((value * 104729) % 5 AS DOUBLE)) AS w
         FROM generate_series(1, 6000)",
    )
    .await?;
    for weighted in [false, true] {
        let x = if weighted { "sqrt(MAX(w))" } else { "1.0" };
        ctx.sql("DROP VIEW IF EXISTS likes").await?;
        ctx.sql(&format!(
            "CREATE VIEW likes AS SELECT user_id, anchor_id, {x} AS x FROM raw GROUP BY user_id, anchor_id"
        ))
        .await?;
        for (similarity, buckets, min_co, k) in [
            ("cosine", 1, 1, 50),
            ("cosine", 3, 2, 5),
            ("jaccard", 7, 1, 10),
            ("lift", 2, 3, 20),
        ] {
            let params: HashMap<String, ScalarValue> = [
                ("similarity", ScalarValue::from(similarity)),
                ("similarity_buckets", ScalarValue::Int64(Some(buckets))),
                ("min_cooccurrence", ScalarValue::Int64(Some(min_co))),
                ("neighbors", ScalarValue::Int64(Some(k))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let ours = run(&ctx, NEIGHBOURS_SQL, &params).await;
            let reference = run(&ctx, REFERENCE_SQL, &params).await;
            let what = format!(
                "{similarity}, {buckets} buckets, co >= {min_co}, k = {k}, weighted {weighted}"
            );
            assert!(ours.len() > 200, "{what}: only {} rows", ours.len());
            assert!(ours.iter().any(|r| r.0 < 0), "{what}: negative ids covered");
            assert_eq!(ours, reference, "{what}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn rejects_an_unknown_similarity() -> datafusion::common::Result<()> {
    let mut ctx = SessionContext::new();
    crate::register_all(&mut ctx)?;
    let sql = "SELECT item_neighbours(1, 2, 1.0, 0, 1, NULL, NULL, 'pearson', 1, 5)";
    let err = ctx.sql(sql).await?.collect().await.unwrap_err().to_string();
    assert!(err.contains("'cosine', 'jaccard' or 'lift'"), "{err}");
    Ok(())
}

#[tokio::test]
async fn needs_the_norm_of_items_outside_the_bucket() -> datafusion::common::Result<()> {
    let mut ctx = SessionContext::new();
    crate::register_all(&mut ctx)?;
    // Bucket 0 of 2 holds item 4 (its own) and item 7 (bucket 1's) without its norm.
    let sql = "SELECT item_neighbours(u, i, 1.0, 0, 2, n, NULL, 'cosine', 1, 5)
               FROM (VALUES (1, 4, CAST(NULL AS DOUBLE)), (1, 7, CAST(NULL AS DOUBLE))) AS t(u, i, n)";
    let err = ctx.sql(sql).await?.collect().await.unwrap_err().to_string();
    assert!(
        err.contains("norm2 is NULL for item 7 outside bucket 0 of 2"),
        "{err}"
    );
    // With its norm given it is computed (cosine 1 / sqrt(1 * 4) = 0.5).
    let sql = "SELECT n['score'] AS s FROM (SELECT unnest(item_neighbours(u, i, 1.0, 0, 2, n, NULL, 'cosine', 1, 5)) AS n
               FROM (VALUES (1, 4, CAST(NULL AS DOUBLE)), (1, 7, 4.0)) AS t(u, i, n))";
    let batches = ctx.sql(sql).await?.collect().await?;
    let score = batches[0].column(0).as_primitive::<Float64Type>().value(0);
    assert_eq!(score, 0.5);
    Ok(())
}
