//! Arguments several commands share: the engine flags, byte sizes, days.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate};
use clap::Args;

use crate::engine::EngineOptions;
use crate::params;

#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Memory pool for query operators (e.g. 12GiB); spills to disk beyond it.
    /// Default: 60% of RAM, at most 16 GiB.
    #[arg(long)]
    memory: Option<String>,
    /// Directory for spill files (default: the OS temp directory).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Partitions per query stage (default: number of cores).
    #[arg(long)]
    partitions: Option<usize>,
    /// Run on a liverec cluster: the scheduler's URL, e.g. df://127.0.0.1:50050
    /// (see `liverec cluster`). Without it, everything runs in this process.
    #[arg(long, env = "LIVEREC_CLUSTER")]
    cluster: Option<String>,
    /// Fail a job run that takes longer than this many seconds (nothing is committed).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

impl EngineArgs {
    pub fn options(&self) -> Result<EngineOptions> {
        Ok(EngineOptions {
            memory_limit: self.memory.as_deref().map(parse_bytes).transpose()?,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.partitions,
            cluster: self.cluster.clone(),
            timeout: self.timeout.map(std::time::Duration::from_secs),
        })
    }
}

/// Parses a byte size such as `1073741824`, `800MB`, `12GiB`, `2G`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("{text:?} is not a size like 12GiB or 800MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => bail!("unknown size unit {other:?} in {text:?}"),
    };
    Ok((value * mult) as u64)
}

/// A day given as YYYY-MM-DD, `today`, `yesterday` or `today-N`, relative ones in `tz`
/// (`UTC` or a fixed offset like `+08:00`).
pub fn resolve_date(text: &str, tz: &str) -> Result<NaiveDate> {
    let offset = if tz.eq_ignore_ascii_case("utc") {
        chrono::FixedOffset::east_opt(0)
    } else {
        tz.parse::<chrono::FixedOffset>().ok()
    }
    .with_context(|| format!("--tz {tz:?}: use UTC or an offset like +08:00"))?;
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    let back = |n: u64| {
        today
            .checked_sub_days(Days::new(n))
            .context("date out of range")
    };
    match text {
        "today" => Ok(today),
        "yesterday" => back(1),
        t if t.starts_with("today-") => {
            let n: u64 = t["today-".len()..]
                .parse()
                .with_context(|| format!("{t:?}: expected today-N"))?;
            back(n)
        }
        t => params::parse_date(t),
    }
}

/// Repeated `--set KEY=VALUE` flags, split.
pub fn overrides(set: &[String]) -> Result<Vec<(String, String)>> {
    set.iter().map(|s| params::parse_override(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_days() {
        assert_eq!(parse_bytes("12GiB").unwrap(), 12 << 30);
        assert_eq!(parse_bytes("800MB").unwrap(), 800_000_000);
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(
            resolve_date("2026-01-05", "UTC").unwrap().to_string(),
            "2026-01-05"
        );
        assert!(resolve_date("today", "Mars/Olympus").is_err());
        assert_eq!(
            resolve_date("today-1", "+08:00").unwrap(),
            resolve_date("yesterday", "+08:00").unwrap()
        );
    }
}
