//! Duplicates: which rows of a table are the same event (`sql/quality/dedup.toml`), the
//! one-aggregation proof that a day is clean, and every row's reason when it is not.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use arrow::array::AsArray;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, max, sum};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::ExprFunctionExt;
use datafusion::prelude::{DataFrame, Expr, col, lit, when};
use serde::Deserialize;

use crate::contract::TableContract;

/// Which rows of a table are the same event (`sql/quality/dedup.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dedup {
    pub(super) key: Vec<String>,
    #[serde(default)]
    pub(super) prefer: Vec<String>,
}

impl Dedup {
    /// The table's declaration, its columns checked against the contract.
    pub(super) fn of(contract: &TableContract) -> Result<Self> {
        let path = "sql/quality/dedup.toml";
        let all: BTreeMap<String, Dedup> = toml::from_str(&crate::project::read(path)?)
            .with_context(|| format!("parsing {path}"))?;
        let d = all
            .get(contract.name)
            .cloned()
            .with_context(|| format!("{path} has no [{}]", contract.name))?;
        let known = |c: &str| contract.columns.iter().any(|k| k.name == c);
        for c in &d.key {
            if !known(c) {
                bail!(
                    "{path}: [{}] key column `{c}` is not in the contract",
                    contract.name
                );
            }
        }
        for p in &d.prefer {
            let (c, _) = Self::order(p)?;
            if !known(c) {
                bail!(
                    "{path}: [{}] prefer column `{c}` is not in the contract",
                    contract.name
                );
            }
        }
        Ok(d)
    }

    /// `"column"` or `"column desc"` (`asc` allowed).
    pub(super) fn order(text: &str) -> Result<(&str, bool)> {
        let mut words = text.split_whitespace();
        let column = words.next().context("an empty `prefer` entry")?;
        let ascending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => true,
            Some("desc") => false,
            Some(other) => bail!("`prefer` entry {text:?}: expected asc or desc, found {other}"),
        };
        if words.next().is_some() {
            bail!("`prefer` entry {text:?}: expected \"column [asc|desc]\"");
        }
        Ok((column, ascending))
    }

    /// Group rows passing every rule by key (rows breaking one stay apart).
    fn partition(&self) -> Vec<Expr> {
        std::iter::once(col("rule").is_null().alias("good"))
            .chain(self.key.iter().map(|c| col(c.as_str())))
            .collect()
    }
}

/// The rows of a day that passes every rule and has no duplicate and no tolerated anomaly:
/// Some(rows); otherwise None (the full annotation is needed).
pub(super) async fn clean_day(checked: DataFrame, dedup: &Dedup) -> Result<Option<u64>> {
    let groups = checked.aggregate(
        dedup.partition(),
        vec![
            count(lit(1)).alias("n"),
            count(col("rule")).alias("bad"),
            count(col("note")).alias("noted"),
        ],
    )?;
    let batches = groups
        .aggregate(
            vec![],
            vec![
                sum(col("n")).alias("rows"),
                sum(col("bad")).alias("bad"),
                sum(col("noted")).alias("noted"),
                max(col("n")).alias("largest"),
            ],
        )?
        .collect()
        .await?;
    let value = |name: &str| -> Result<i64> {
        let b = batches.iter().find(|b| b.num_rows() > 0);
        Ok(b.map(|b| {
            let c = arrow::compute::cast(
                b.column_by_name(name).expect("aggregate column"),
                &arrow::datatypes::DataType::Int64,
            )?;
            Ok::<_, arrow::error::ArrowError>(
                c.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            )
        })
        .transpose()?
        .unwrap_or(0))
    };
    let (rows, bad, noted, largest) = (
        value("rows")?,
        value("bad")?,
        value("noted")?,
        value("largest")?,
    );
    Ok((bad == 0 && noted == 0 && largest <= 1).then_some(rows.max(0) as u64))
}

/// Every row with its reason: the first rule it breaks, or `row:duplicate` for all but the
/// preferred row of each key among the rows passing every rule.
pub(super) fn with_duplicates(checked: DataFrame, dedup: &Dedup) -> Result<DataFrame> {
    let mut order = Vec::new();
    for p in &dedup.prefer {
        let (c, ascending) = Dedup::order(p)?;
        order.push(col(c).sort(ascending, false));
    }
    order.push(col("_file").sort(true, false));
    let rank = row_number()
        .partition_by(dedup.partition())
        .order_by(order)
        .build()?
        .alias("rank_in_key");
    let columns: Vec<Expr> = checked
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !matches!(*n, "rule" | "note"))
        .map(col)
        .chain([
            coalesce(vec![
                col("rule"),
                when(col("rank_in_key").gt(lit(1u64)), lit("row:duplicate")).end()?,
            ])
            .alias("reason"),
            when(col("rule").is_null(), col("note"))
                .end()?
                .alias("note"),
        ])
        .collect();
    Ok(checked.window(vec![rank])?.select(columns)?)
}
