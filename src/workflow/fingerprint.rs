//! A task's fingerprint: what its outputs depend on. A task whose ledger entry has the same
//! fingerprint (and whose outputs are still there) is skipped.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::contract::INPUT_TABLES;
use crate::layout;
use crate::storage::Storage;

/// The input-table day windows a job reads for `day`: from its declaration for SQL jobs;
/// for `quality`, every input table on `day`; for other builtins (which run other jobs over many days) every input table over the 90 days up
/// to the day after `day`, a superset of their windows.
pub fn input_windows(
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
    if job == crate::job::QUALITY_JOB {
        return Ok(INPUT_TABLES
            .iter()
            .map(|c| (c.name.to_string(), day, day))
            .collect());
    }
    let spec = crate::job::JobSpec::load(job).ok();
    let sql_job = spec.as_ref().filter(|s| s.builtin.is_none());
    let Some(spec) = sql_job else {
        let (from, to) = (day - chrono::Days::new(90), day + chrono::Days::new(1));
        return Ok(INPUT_TABLES
            .iter()
            .map(|c| (c.name.to_string(), from, to))
            .collect());
    };
    let params = crate::params::bind(&spec.params, overrides)?;
    let mut out = Vec::new();
    for input in spec
        .inputs
        .iter()
        .filter(|i| i.from == crate::job::Root::Input)
    {
        let (lo, hi) = input.window(&params)?;
        let shift = |o: i64| day + chrono::Duration::days(o);
        out.push((input.table.clone(), shift(lo), shift(hi)));
    }
    Ok(out)
}

/// A fingerprint of a task: its job, day, overrides, the code version, the fingerprints of
/// the upstream tasks that produce data, and the files (name, size, modification time) of
/// the input windows it reads.
pub async fn fingerprint(
    input: &Storage,
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
    upstream: &[String],
) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update(bytes);
        h.update([0]);
    };
    field(job.as_bytes());
    field(day.to_string().as_bytes());
    let sorted: BTreeMap<_, _> = overrides.iter().cloned().collect();
    for (k, v) in sorted {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    field(crate::project::code_version().as_bytes());
    for u in upstream {
        field(u.as_bytes());
    }
    for (name, from, to) in input_windows(job, day, overrides)? {
        let table = input.at(&name);
        field(name.as_bytes());
        let (present, _) = table.partitions_between(from, to).await?;
        for d in present {
            let part = table.at(&layout::partition(d));
            for meta in part.list_parquet_files().await? {
                field(meta.location.as_ref().as_bytes());
                field(&meta.size.to_le_bytes());
                field(meta.last_modified.to_rfc3339().as_bytes());
            }
        }
    }
    Ok(hex::encode(&h.finalize()[..16]))
}
