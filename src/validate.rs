//! `liverec validate`: checks every file of the six input tables over a range of days against
//! the data contract, and reports rows and missing days per table.

use anyhow::Result;
use chrono::NaiveDate;

use crate::contract::{self, INPUT_TABLES};
use crate::layout;
use crate::storage::Storage;

#[derive(Debug, Clone)]
pub struct TableSummary {
    pub table: &'static str,
    pub partitions: usize,
    pub files: usize,
    pub rows: u64,
    pub missing: Vec<NaiveDate>,
}

/// Checks all input tables under `root` for the days `from..=to`. The first file that breaks
/// the contract (or cannot be read) is returned as an error naming it.
pub async fn validate_inputs(
    root: &Storage,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TableSummary>> {
    let mut out = Vec::new();
    for contract in INPUT_TABLES {
        let table = root.at(contract.name);
        let (present, missing) = table.partitions_between(from, to).await?;
        let mut summary = TableSummary {
            table: contract.name,
            partitions: present.len(),
            files: 0,
            rows: 0,
            missing,
        };
        for day in &present {
            let part = table.at(&layout::partition(*day));
            for meta in part.list_parquet_files().await? {
                let name = part
                    .loc
                    .join(meta.location.filename().unwrap_or_default())
                    .to_string();
                let footer = contract::read_footer(part.store.clone(), &meta, &name).await?;
                contract.check(&name, &footer.schema)?;
                summary.files += 1;
                summary.rows += footer.rows;
            }
        }
        out.push(summary);
    }
    Ok(out)
}
