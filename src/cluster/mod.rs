//! liverec's own Ballista scheduler and executors. They are Ballista's, started from the
//! liverec binary with liverec's UDF registry and physical codec installed: Ballista ships
//! functions by name only and encodes only the nodes its codec knows, so the client, the
//! scheduler and every executor must know the same functions and the same nodes (`codec`:
//! the distributed writer). `write` is the client's side of writing on the executors.

pub mod codec;
pub mod write;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::prelude::SessionConfig;

use crate::engine::{self, EngineOptions};

/// Scheduler settings an operator may change.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// Seconds without a heartbeat before an executor is declared lost and its tasks re-run.
    pub executor_timeout_s: u64,
    /// Serve Ballista's REST API (job list, job config). liverec never puts secrets into
    /// session config, but the API can still be turned off.
    pub rest_api: bool,
}

pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    let config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts.bind.ip().to_string(),
        executor_timeout_seconds: opts.executor_timeout_s,
        expire_dead_executor_interval_seconds: (opts.executor_timeout_s / 3).clamp(1, 15),
        disable_rest_api: !opts.rest_api,
        // Physical plans from clients carry liverec's writer node.
        override_physical_codec: Some(Arc::new(codec::LiverecCodec::default())),
        // Plans arrive with the client's config; decode them with liverec's functions.
        override_session_builder: Some(Arc::new(|config: SessionConfig| {
            let runtime = engine::runtime_env(&EngineOptions::default())
                .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?;
            engine::session_state(config, runtime)
                .map_err(|e| datafusion::error::DataFusionError::External(e.into()))
        })),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("cannot set up the scheduler: {e}"))?;
    tracing::info!("liverec scheduler listening on {}", opts.bind);
    start_server(cluster, opts.bind, Arc::new(config))
        .await
        .map_err(|e| anyhow!("scheduler stopped: {e}"))
}

#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    pub scheduler: String,
    pub bind_host: String,
    /// Arrow Flight port (shuffle data); the gRPC port is the next one.
    pub port: u16,
    pub work_dir: Option<PathBuf>,
    pub memory: Option<u64>,
    pub concurrent_tasks: Option<usize>,
    pub heartbeat_s: u64,
}

pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let (host, port) = opts
        .scheduler
        .trim_start_matches("df://")
        .rsplit_once(':')
        .with_context(|| format!("--scheduler {} is not HOST:PORT", opts.scheduler))?;
    let scheduler_port: u16 = port
        .parse()
        .with_context(|| format!("bad scheduler port in {}", opts.scheduler))?;
    let state = engine::session_state(
        SessionConfig::new(),
        engine::runtime_env(&EngineOptions::default())?,
    )?;
    if let Some(dir) = &opts.work_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create work dir {}", dir.display()))?;
    }
    let work_dir = opts.work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(opts.bind_host.clone()),
        port: opts.port,
        grpc_port: opts.port + 1,
        scheduler_host: host.to_string(),
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.concurrent_tasks.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        work_dir: opts.work_dir.map(|p| p.to_string_lossy().into_owned()),
        memory_pool_size: opts.memory,
        executor_heartbeat_interval_seconds: opts.heartbeat_s,
        // Sweep shuffle files of finished jobs left behind (e.g. after a client crash).
        job_data_clean_up_interval_seconds: 3600,
        job_data_ttl_seconds: 24 * 3600,
        print_thread_info: false,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&state))),
        // Task plans carry liverec's writer node.
        override_physical_codec: Some(Arc::new(codec::LiverecCodec::default())),
        // Executors open S3 buckets themselves from the URLs in the plan (credentials from
        // their own environment), like the client and the scheduler.
        override_runtime_producer: Some(Arc::new(move |_| {
            let mut builder = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_object_store_registry(Arc::new(
                    crate::storage::s3::LiverecObjectStores::default(),
                ));
            if let Some(dir) = &work_dir {
                builder = builder.with_temp_file_path(dir.clone());
            }
            Ok(Arc::new(builder.build()?))
        })),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        "liverec executor on {}:{} for scheduler {}:{}",
        opts.bind_host,
        opts.port,
        host,
        scheduler_port
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow!("executor stopped: {e}"))
}
