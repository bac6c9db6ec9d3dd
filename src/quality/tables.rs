//! The `quality` job's work: every input table's partition of a day checked at once.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use super::{DayInput, QualityParams, check_day};
use crate::doc::quality::DayQuality;
use crate::layout;
use crate::storage::Storage;

/// What the `quality` job found for one table of a day.
pub struct TableDay {
    pub table: &'static str,
    /// None: no partition (or no rows) for the day.
    pub quality: Option<DayQuality>,
}

/// Checks every input table's partition of `day` (the `quality` job, and the daily
/// workflow's first task): files against the contract, rows against the rules. Event tables
/// without rows for the day are an error; a snapshot table may be absent (jobs read the
/// newest snapshot of their window).
pub async fn check_tables_of_day(
    ctx: &SessionContext,
    input_root: &Storage,
    output_root: &Storage,
    day: NaiveDate,
    qp: &QualityParams,
    cluster: Option<&str>,
) -> Result<Vec<TableDay>> {
    let mut out = Vec::new();
    let mut absent = Vec::new();
    for contract in crate::contract::INPUT_TABLES {
        let part = input_root.at(contract.name).at(&layout::partition(day));
        let files = part.list_parquet_files().await?;
        let mut rows = 0;
        for meta in &files {
            let name = part
                .loc
                .join(meta.location.filename().unwrap_or_default())
                .to_string();
            let footer = crate::contract::read_footer(part.store.clone(), meta, &name).await?;
            contract.check(&name, &footer.schema)?;
            rows += footer.rows;
        }
        let snapshot = matches!(contract.name, "users" | "anchors");
        if rows == 0 {
            if !snapshot {
                absent.push(contract.name);
            }
            out.push(TableDay {
                table: contract.name,
                quality: None,
            });
            continue;
        }
        let input = DayInput {
            contract,
            partition: &part,
            day,
            files: &files,
            cluster: cluster.map(str::to_string),
        };
        let q = check_day(ctx, &input, output_root, qp).await?;
        out.push(TableDay {
            table: contract.name,
            quality: Some(q),
        });
    }
    if !absent.is_empty() {
        bail!(
            "input for {day} is missing or empty in: {} (under {})",
            absent.join(", "),
            input_root.loc
        );
    }
    Ok(out)
}
