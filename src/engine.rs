//! The one place a query session is built. Embedded runs use it directly; the cluster mode
//! (Ballista) starts from the same `SessionConfig` and the same UDF registry so both modes
//! plan the same SQL the same way.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

/// How a session is sized. `None` fields take defaults fitted to the machine.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Bytes of the spilling memory pool for query operators.
    pub memory_limit: Option<u64>,
    /// Directory for spill files (default: the OS temp directory).
    pub spill_dir: Option<PathBuf>,
    /// Partitions per query stage (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// Ballista scheduler URL (`df://host:port`); `None` runs embedded.
    pub cluster: Option<String>,
    /// Deadline of one job run (queries, writes, checks); `None` waits forever.
    pub timeout: Option<std::time::Duration>,
}

impl EngineOptions {
    pub fn target_partitions(&self) -> usize {
        self.target_partitions.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2)
        })
    }

    /// The command-line flags that give a child `liverec run` these options (all but the
    /// timeout, which the parent keeps).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(bytes) = self.memory_limit {
            args.extend(["--memory".to_string(), bytes.to_string()]);
        }
        if let Some(dir) = &self.spill_dir {
            args.extend(["--spill-dir".to_string(), dir.display().to_string()]);
        }
        if let Some(n) = self.target_partitions {
            args.extend(["--partitions".to_string(), n.to_string()]);
        }
        if let Some(url) = &self.cluster {
            args.extend(["--cluster".to_string(), url.clone()]);
        }
        args
    }

    /// Default pool: 60% of physical memory, at most 16 GiB (leaves room for the
    /// non-pooled buffers: Parquet writers, hash-join build sides, the OS page cache).
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit.unwrap_or_else(|| {
            let total = physical_memory().unwrap_or(8 << 30);
            (total / 10 * 6).min(16 << 30)
        })
    }

    /// The options of one of `runs` runs going at once in this process: its share of the
    /// memory pool and of the cores (partitions per query, unless `--partitions` set them).
    /// The runs keep every core busy, so more partitions per query only add repartitioning.
    /// A cluster run is sized by its executors and is returned unchanged.
    pub fn share(&self, runs: usize) -> EngineOptions {
        let mut shared = self.clone();
        if runs > 1 && self.cluster.is_none() {
            shared.memory_limit = Some(self.memory_limit() / runs as u64);
            if self.target_partitions.is_none() {
                shared.target_partitions = Some((self.target_partitions() / runs).max(1));
            }
        }
        shared
    }
}

/// Total physical memory from /proc/meminfo (Linux), if readable.
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The session configuration shared by embedded and cluster mode.
///
/// Strings are read as `Utf8` rather than `Utf8View`, as Ballista does, so both modes produce
/// the same schemas.
pub fn session_config(opts: &EngineOptions) -> SessionConfig {
    let base = if opts.cluster.is_some() {
        // Ballista's own defaults (no round-robin repartition, …) plus its config extension,
        // which the scheduler requires. Joins are hash joins, as embedded: the client plans
        // the cluster's physical plans (`cluster::write`), and Ballista's sort-merge default
        // made the medium training set 23.6 s instead of 14.7 s on two executors
        // (docs/benchmarks.md); like embedded runs, a build side must fit an executor's memory.
        let mut config = SessionConfig::new_with_ballista().with_ballista_job_name("liverec");
        config.options_mut().optimizer.prefer_hash_join = true;
        config
    } else {
        SessionConfig::new()
    };
    apply_liverec_options(base, opts.target_partitions())
}

/// The settings liverec adds on top of either mode's defaults.
pub fn apply_liverec_options(config: SessionConfig, target_partitions: usize) -> SessionConfig {
    // Batches of 32 Ki rows (default 8 Ki): the jobs are joins and aggregations over a few
    // million narrow rows, where per-batch costs (hashing set-up, take/concat, sort-merge
    // cursors) add up; medium training set 13.3 → 12.2 s, item-CF 4.45 → 3.9 s, identical
    // outputs (docs/benchmarks.md).
    let mut config = config
        .with_batch_size(32 * 1024)
        .with_target_partitions(target_partitions)
        .with_information_schema(true);
    let o = config.options_mut();
    o.execution.parquet.schema_force_view_types = false;
    o.sql_parser.map_string_types_to_utf8view = false;
    // Give up on a partial aggregation that barely reduces after 10 k rows (default 100 k).
    // Measured on an earlier form of heat, a dedup of (anchor, role, user) whose partial
    // stage kept 81 % of its rows: heat 34 → 30 ms on medium; training set and item-CF
    // unchanged within noise (docs/benchmarks.md). Not re-measured since.
    o.execution.skip_partial_aggregation_probe_rows_threshold = 10_000;
    config
}

/// A session state with liverec's UDFs for a given config: used by the client, by the
/// scheduler (to decode plans) and to build the executors' function registry.
pub fn session_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> Result<SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    liverec_udfs::register_all(&mut state).context("cannot register liverec UDFs")?;
    Ok(state)
}

/// The runtime: a fair spilling memory pool, a spill directory, and no listing cache (a job
/// must see partitions committed a moment ago by the previous job of the same process).
pub fn runtime_env(opts: &EngineOptions) -> Result<Arc<RuntimeEnv>> {
    let mut disk = DiskManagerBuilder::default();
    if let Some(dir) = &opts.spill_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create spill directory {}", dir.display()))?;
        disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
    }
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(opts.memory_limit() as usize)))
        .with_disk_manager_builder(disk)
        .with_object_list_cache_limit(0)
        .with_object_store_registry(Arc::new(crate::storage::s3::LiverecObjectStores::default()))
        .build_arc()
        .context("cannot build the query runtime")
}

/// A fresh session with every liverec UDF registered: embedded, or a client of the Ballista
/// cluster at `opts.cluster` (same config function, same UDFs, same SQL).
pub async fn new_context(opts: &EngineOptions) -> Result<SessionContext> {
    let state = session_state(session_config(opts), runtime_env(opts)?)?;
    match &opts.cluster {
        None => Ok(SessionContext::new_with_state(state)),
        Some(url) => {
            let mut ctx = SessionContext::remote_with_state(url, state)
                .await
                .with_context(|| format!("cannot connect to the liverec cluster at {url}"))?;
            // Ballista's upgrade of the state replaces its function lists with Ballista's
            // defaults: register liverec's again.
            liverec_udfs::register_all(&mut ctx).context("cannot register liverec UDFs")?;
            Ok(ctx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_at_once_share_the_memory_and_the_cores_unless_pinned() {
        let opts = EngineOptions {
            memory_limit: Some(8 << 30),
            target_partitions: None,
            ..Default::default()
        };
        let cores = opts.target_partitions();
        let shared = opts.share(2);
        assert_eq!(shared.memory_limit, Some(4 << 30));
        assert_eq!(shared.target_partitions, Some((cores / 2).max(1)));
        assert_eq!(opts.share(4 * cores).target_partitions, Some(1));
        // One run alone keeps everything.
        assert_eq!(opts.share(1).memory_limit, Some(8 << 30));
        assert_eq!(opts.share(1).target_partitions, None);
        // `--partitions` given: kept; a cluster run: unchanged.
        let pinned = EngineOptions {
            target_partitions: Some(3),
            ..opts.clone()
        };
        assert_eq!(pinned.share(2).target_partitions, Some(3));
        let cluster = EngineOptions {
            cluster: Some("df://127.0.0.1:50050".into()),
            ..opts.clone()
        };
        let shared = cluster.share(2);
        assert_eq!(
            (shared.memory_limit, shared.target_partitions),
            (Some(8 << 30), None)
        );
    }
}
