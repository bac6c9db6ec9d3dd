//! Cluster mode: a real Ballista scheduler and executors (processes of the liverec binary) on
//! loopback run the jobs, with the same results as embedded, and survive losing an executor.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use common::s3::{S3Server, SECRET};
use common::*;

const D: &str = "2026-01-15";

/// Processes killed when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free port p with p+1 free too (executors use two).
fn free_ports() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 65000 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn spawn(args: &[&str], log: &Path, envs: &[(&str, String)]) -> Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_liverec"))
        .args(args)
        .env("LIVEREC_LOG", "info")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap()
}

fn start_executor(scheduler: u16, dir: &Path, name: &str, envs: &[(&str, String)]) -> Child {
    let port = free_ports();
    spawn(
        &[
            "cluster",
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{scheduler}"),
            "--port",
            &port.to_string(),
            "--work-dir",
            &s(&dir.join(name)),
            "--heartbeat",
            "1",
            "--concurrent-tasks",
            "2",
        ],
        &dir.join(format!("{name}.log")),
        envs,
    )
}

fn start_cluster(dir: &Path, executors: usize, envs: &[(&str, String)]) -> (Processes, String) {
    let port = free_ports();
    let mut procs = vec![spawn(
        &[
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--executor-timeout",
            "5",
        ],
        &dir.join("scheduler.log"),
        envs,
    )];
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "scheduler did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 0..executors {
        procs.push(start_executor(port, dir, &format!("executor-{i}"), envs));
    }
    // Executors register within a heartbeat or two.
    std::thread::sleep(Duration::from_secs(3));
    (Processes(procs), format!("df://127.0.0.1:{port}"))
}

/// Tasks the first `executors` executors finished, from their logs.
fn tasks_run(dir: &Path, executors: usize) -> usize {
    (0..executors)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("executor-{i}.log")))
                .unwrap()
                .matches("Finished task")
                .count()
        })
        .sum()
}

const TABLES: &[&str] = &[
    "heat",
    "user_profile",
    "anchor_profile",
    "user_anchor_profile",
    "user_category_profile",
    "samples",
    "exposure_samples",
    "itemcf_sim",
    "candidates",
    "recall_metrics",
];

fn run_pipeline(input: &Path, output: &Path, cluster: Option<&str>) {
    let (i, o) = (s(input), s(output));
    for (job, extra) in [
        ("heat", vec![]),
        ("training_set", vec!["--set", "label_days=2"]),
        ("itemcf", vec![]),
        ("eval_recall", vec![]),
        // Models: the cluster reads the samples, the client fits.
        ("train", vec!["--model", "lr"]),
        ("train", vec!["--model", "gbdt", "--set", "trees=30"]),
    ] {
        let mut args = vec!["run", job, "--date", D, "--input", &i, "--output", &o];
        args.extend(extra);
        if cluster.is_some() && job == "itemcf" {
            // The similarity split into buckets (one task each) must equal the embedded run's
            // single bucket.
            args.extend(["--set", "similarity_buckets=3"]);
        }
        if let Some(url) = cluster {
            // A wedged cluster job fails the test clearly instead of hanging the suite.
            args.extend(["--cluster", url, "--timeout", "300"]);
        }
        run_ok(&args);
    }
}

#[test]
fn jobs_on_the_cluster_match_embedded_row_for_row() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 1500, 150, 77);
    let (_procs, url) = start_cluster(tmp.path(), 2, &[]);

    let embedded = tmp.path().join("embedded");
    let distributed = tmp.path().join("distributed");
    run_pipeline(&input, &embedded, None);
    run_pipeline(&input, &distributed, Some(&url));

    let (a, b) = (all_rows(&embedded, TABLES), all_rows(&distributed, TABLES));
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert!(!x.is_empty(), "{table} is empty");
        assert_eq!(x.len(), y.len(), "{table}: row counts differ");
        assert!(x == y, "{table}: rows differ between embedded and cluster");
    }
    // The same model from the same rows: model.json equal but for its version name, and
    // the same validation predictions.
    for model in ["lr", "gbdt"] {
        let load = |root: &Path| -> (serde_json::Value, Vec<RecordBatch>) {
            let dir = root.join("models").join(model);
            let v = std::fs::read_to_string(dir.join("LATEST")).unwrap();
            let folder = dir.join(v.trim());
            let mut m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(folder.join("model.json")).unwrap()).unwrap();
            m["version"] = serde_json::Value::Null;
            let file = std::fs::File::open(folder.join("validation_predictions.parquet")).unwrap();
            let batches =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap()
                    .map(|b| b.unwrap())
                    .collect();
            (m, batches)
        };
        let (ma, pa) = load(&embedded);
        let (mb, pb) = load(&distributed);
        assert!(
            ma == mb,
            "{model}: model.json differs between embedded and cluster"
        );
        assert!(pa == pb, "{model}: validation predictions differ");
    }
    // Ad-hoc SQL gives the same answers through the cluster. (Exact sums: the executors
    // write a partition as several files, and a float sum depends on the order it adds.)
    for q in [
        "SELECT dt, COUNT(*) AS n, SUM(label) AS positives, SUM(CAST(ROUND(u_watch_s * 1000) AS BIGINT)) AS w_ms FROM samples GROUP BY dt ORDER BY dt",
        "SELECT s.source, COUNT(*) AS n FROM candidates s JOIN heat h ON h.anchor_id = s.anchor_id GROUP BY s.source ORDER BY s.source",
    ] {
        let base = [
            "sql",
            "--input",
            &s(&input),
            "--output",
            &s(&distributed),
            "-e",
            q,
            "--format",
            "csv",
        ];
        let local = run_ok(&base);
        let remote = run_ok(&[&base[..], &["--cluster", &url]].concat());
        assert!(local.lines().count() > 1);
        assert_eq!(local, remote, "{q}");
    }
    // The work ran on the executors, not in the client.
    let executed = tasks_run(tmp.path(), 2);
    assert!(executed > 50, "executors ran only {executed} tasks");
    let scheduler_log = std::fs::read_to_string(tmp.path().join("scheduler.log")).unwrap();
    assert!(
        !scheduler_log.contains("secret"),
        "secrets in the scheduler log"
    );
}

#[test]
fn losing_an_executor_mid_job_never_publishes_partial_or_wrong_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 20_000, 800, 78);
    let embedded = tmp.path().join("embedded");
    let distributed = tmp.path().join("distributed");
    let (i, o, e) = (s(&input), s(&distributed), s(&embedded));
    let (mut procs, url) = start_cluster(tmp.path(), 2, &[]);
    let survivor = start_executor(
        url.trim_start_matches("df://127.0.0.1:").parse().unwrap(),
        tmp.path(),
        "executor-2",
        &[],
    );
    procs.0.push(survivor);
    std::thread::sleep(Duration::from_secs(2));

    let args = [
        "run",
        "training_set",
        "--date",
        D,
        "--set",
        "label_days=3",
        "--input",
        &i,
        "--cluster",
        &url,
        "--timeout",
        "60",
    ];
    let mut job = liverec()
        .args(args)
        .args(["--output", &o])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it get into its shuffles, then kill an executor that is doing work.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        job.try_wait().unwrap().is_none(),
        "the job ended before the executor was killed"
    );
    procs.0[1].kill().unwrap();
    procs.0[1].wait().unwrap();
    // Ballista 55 re-runs the lost tasks, but its stage rollback can also wedge the job
    // ("Can't find active stage to update stage outputs"); the run's --timeout turns that into
    // a clear failure. The test's own deadline only guards against liverec hanging anyway.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = job.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            job.kill().unwrap();
            job.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The scheduler noticed the loss (executor timeout 5 s).
    let noticed = Instant::now();
    while !std::fs::read_to_string(tmp.path().join("scheduler.log"))
        .unwrap()
        .contains("Removing executor")
    {
        assert!(
            noticed.elapsed() < Duration::from_secs(30),
            "the scheduler never noticed the lost executor"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Whatever happened, nothing partial was published: every committed partition is whole.
    for t in ["user_profile", "samples", "exposure_samples"] {
        if let Ok(parts) = std::fs::read_dir(distributed.join(t)) {
            for p in parts {
                assert_partition_whole(&p.unwrap().path());
            }
        }
    }
    let status = status.expect("liverec hung: the run's --timeout did not end it");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut job.stderr.take().unwrap(), &mut stderr).unwrap();
    if !status.success() {
        // A clear, one-line reason; nothing of the failed day was committed (checked above).
        let reason = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            !reason.is_empty() && !stderr.contains("panicked"),
            "unclear failure:\n{stderr}"
        );
        eprintln!("executor loss: the run failed cleanly: {reason}");
        return;
    }
    eprintln!("executor loss: the run succeeded");
    run_ok(&[
        "run",
        "training_set",
        "--date",
        D,
        "--set",
        "label_days=3",
        "--input",
        &i,
        "--output",
        &e,
    ]);
    let tables = &["user_profile", "samples", "exposure_samples"];
    assert!(
        all_rows(&embedded, tables) == all_rows(&distributed, tables),
        "results differ after the executor loss"
    );
}

#[test]
fn executors_read_and_write_s3_with_their_own_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    // A real S3-compatible server on loopback; its root directory holds the buckets, so the
    // generated logs are put there as objects of bucket `logs`.
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate(&server.dir("logs/in"), 16, 1500, 150, 79);
    let good = server.envs(SECRET);
    let (_procs, url) = start_cluster(tmp.path(), 2, &good);
    let run = |job: &str, output: &str, cluster: Option<&str>, env: &[(&str, String)]| {
        let mut cmd = liverec();
        cmd.args([
            "run",
            job,
            "--date",
            D,
            "--input",
            "s3://logs/in",
            "--output",
            output,
            "--timeout",
            "300",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(u) = cluster {
            cmd.args(["--cluster", u]);
        }
        cmd.output().unwrap()
    };
    // Inputs and outputs on S3, embedded and through the cluster (item-CF's materialized
    // views are written to the output bucket and read back by the executors).
    for (out, cluster) in [
        ("s3://lake/embedded", None),
        ("s3://lake/distributed", Some(url.as_str())),
    ] {
        for job in ["heat", "itemcf"] {
            let o = run(job, out, cluster, &good);
            assert!(
                o.status.success(),
                "{job}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    let tables = &["heat", "itemcf_sim", "candidates"];
    let (a, b) = (
        all_rows(&server.dir("lake/embedded"), tables),
        all_rows(&server.dir("lake/distributed"), tables),
    );
    assert!(!a[0].1.is_empty() && !a[2].1.is_empty());
    assert!(a == b, "results on S3 differ between embedded and cluster");
    let executed = tasks_run(tmp.path(), 2);
    assert!(executed > 0, "the executors ran nothing");
    // The secret stays out of the scheduler's and executors' logs.
    for log in ["scheduler.log", "executor-0.log", "executor-1.log"] {
        let text = std::fs::read_to_string(tmp.path().join(log)).unwrap();
        assert!(!text.contains(SECRET), "secret in {log}");
    }
    // Wrong credentials: a clear error naming the bucket, no stack trace, nothing written.
    let wrong = server.envs("not-the-secret");
    let o = run("heat", &s(&tmp.path().join("wrong")), None, &wrong);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("logs") && !err.contains("panicked"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert!(!tmp.path().join("wrong/heat").exists());
}
