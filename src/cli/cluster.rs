//! `liverec cluster scheduler | executor | up`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::args::parse_bytes;
use crate::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Start a scheduler (jobs connect with --cluster df://HOST:PORT).
    Scheduler {
        /// Address to listen on; loopback by default, anything else is an explicit choice.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat before an executor is lost and its tasks re-run.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
        /// Turn off Ballista's REST API (job list and job config views).
        #[arg(long)]
        no_rest_api: bool,
    },
    /// Start an executor that registers with a scheduler.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Host to listen on and advertise.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Arrow Flight port for shuffle data; the gRPC port is PORT+1.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Memory pool of the executor (e.g. 14GiB; default: 70% of RAM).
        #[arg(long)]
        memory: Option<String>,
        /// Tasks run at once (default: cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Heartbeat interval to the scheduler, seconds.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
    /// Start a scheduler and N executors on this machine for local trials.
    Up {
        #[arg(long, default_value_t = 2)]
        executors: usize,
        /// Scheduler port; executors use the ports after it.
        #[arg(long, default_value_t = 50050)]
        port: u16,
        /// Root of the executors' work directories.
        #[arg(long, default_value = "/tmp/liverec-cluster")]
        work_dir: PathBuf,
    },
}

pub async fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Scheduler {
            bind,
            executor_timeout,
            no_rest_api,
        } => {
            run_scheduler(SchedulerOptions {
                bind,
                executor_timeout_s: executor_timeout,
                rest_api: !no_rest_api,
            })
            .await
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            port,
            work_dir,
            memory,
            concurrent_tasks,
            heartbeat,
        } => {
            run_executor(ExecutorOptions {
                scheduler,
                bind_host: bind,
                port,
                work_dir,
                memory: memory.as_deref().map(parse_bytes).transpose()?,
                concurrent_tasks,
                heartbeat_s: heartbeat,
            })
            .await
        }
        ClusterCommand::Up {
            executors,
            port,
            work_dir,
        } => up(executors, port, work_dir).await,
    }
}

/// A scheduler and `executors` executors as child processes of this binary.
async fn up(executors: usize, port: u16, work_dir: PathBuf) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the liverec binary")?;
    let mut pids = Vec::new();
    let scheduler = std::process::Command::new(&exe)
        .args([
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .spawn()
        .context("cannot start the scheduler")?;
    pids.push(scheduler.id());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for i in 0..executors {
        let flight = port + 1 + 2 * i as u16;
        let dir = work_dir.join(format!("executor-{i}"));
        let child = std::process::Command::new(&exe)
            .args([
                "cluster",
                "executor",
                "--scheduler",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--port", &flight.to_string()])
            .arg("--work-dir")
            .arg(&dir)
            .spawn()
            .context("cannot start an executor")?;
        pids.push(child.id());
    }
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    println!("liverec cluster up: scheduler df://127.0.0.1:{port}, {executors} executor(s)");
    println!("run jobs with --cluster df://127.0.0.1:{port}");
    println!("stop it with: kill {}", list.join(" "));
    Ok(())
}
