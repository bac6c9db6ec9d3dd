//! Cluster mode: a real Ballista scheduler and executors (processes of the liverec binary) on
//! loopback run the jobs, with the same results as embedded, and survive losing an executor.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use arrow::array::RecordBatch;
use common::s3::{S3Server, SECRET};
use common::*;

/// Each test here runs its own scheduler and executors: one at a time, so a test's
/// deadlines are not spent waiting for the others' clusters on a 2-core machine (the
/// executor-loss test once timed out with the parity test's four model fits beside it).
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

/// The executors the scheduler on `port` knows (its REST API).
fn registered_executors(port: u16) -> usize {
    http_get(port, "/api/executors")
        .and_then(|body| serde_json::from_str::<Vec<serde_json::Value>>(&body).ok())
        .map_or(0, |list| list.len())
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
    wait_for("the scheduler", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    for i in 0..executors {
        procs.push(start_executor(port, dir, &format!("executor-{i}"), envs));
    }
    wait_for("the executors to register", Duration::from_secs(60), || {
        registered_executors(port) == executors
    });
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
    "user_factors",
    "anchor_factors",
    "recall_metrics",
];

/// Runs the pipeline; returns each run's `--report-json`.
fn run_pipeline(input: &Path, output: &Path, cluster: Option<&str>) -> Vec<serde_json::Value> {
    let (i, o) = (s(input), s(output));
    let mut reports = Vec::new();
    for (job, extra) in [
        ("heat", vec![]),
        ("training_set", vec!["--set", "label_days=2"]),
        ("itemcf", vec![]),
        // ALS: the executors build the likes, the client fits and writes.
        ("als", vec!["--set", "factors=8", "--set", "iterations=5"]),
        ("eval_recall", vec![]),
        // Models: the cluster reads the samples, the client fits.
        ("train", vec!["--model", "lr"]),
        ("train", vec!["--model", "gbdt", "--set", "trees=30"]),
        (
            "train",
            vec!["--model", "gbdt_lr", "--set", "gbdt_lr_trees=20"],
        ),
        ("train", vec!["--model", "fm"]),
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
        let report = output.join(format!("report-{}.json", reports.len()));
        let report_arg = s(&report);
        args.extend(["--report-json", &report_arg]);
        run_ok(&args);
        reports.push(serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap());
        std::fs::remove_file(&report).unwrap();
    }
    reports
}

#[test]
fn jobs_on_the_cluster_match_embedded_row_for_row() {
    let _serial = one_cluster_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 1500, 150, 77);
    let (_procs, url) = start_cluster(tmp.path(), 2, &[]);

    let embedded = tmp.path().join("embedded");
    let distributed = tmp.path().join("distributed");
    let local_reports = run_pipeline(&input, &embedded, None);
    let cluster_reports = run_pipeline(&input, &distributed, Some(&url));
    // Embedded, the process writes its outputs itself; on the cluster the executors write
    // every output row (the client only receives the files' metadata and commits).
    let through_client = |r: &serde_json::Value| r["rows_written_by_client"].as_u64().unwrap();
    // Rows of the table partitions a run committed (not model folders or set manifests).
    let partition_rows = |r: &serde_json::Value| -> u64 {
        r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["location"].as_str().unwrap().contains("/dt="))
            .map(|o| o["rows"].as_u64().unwrap())
            .sum()
    };
    // Rows of a run's committed table partitions other than the likes (the als job's
    // client writes those itself: the vectors, the candidates with its channel).
    let fitted_rows = |r: &serde_json::Value| -> u64 {
        r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["table"] != "als_likes")
            .map(|o| o["rows"].as_u64().unwrap())
            .sum()
    };
    for (local, remote) in local_reports.iter().zip(&cluster_reports) {
        let from_client = if remote["job"] == "als" {
            fitted_rows(remote)
        } else {
            0
        };
        assert_eq!(
            through_client(remote),
            from_client,
            "{}: rows through the client",
            remote["job"]
        );
        assert_eq!(
            partition_rows(local),
            partition_rows(remote),
            "{}",
            local["job"]
        );
        assert!(
            through_client(local) >= partition_rows(local),
            "{}: the embedded run wrote its rows itself",
            local["job"]
        );
    }
    assert!(cluster_reports.iter().map(partition_rows).sum::<u64>() > 10_000);

    let (a, b) = (all_rows(&embedded, TABLES), all_rows(&distributed, TABLES));
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert!(!x.is_empty(), "{table} is empty");
        assert_eq!(x.len(), y.len(), "{table}: row counts differ");
        assert!(x == y, "{table}: rows differ between embedded and cluster");
    }
    // The same model from the same rows: model.json equal but for its version name, and
    // the same validation predictions.
    for model in ["lr", "gbdt", "gbdt_lr", "fm"] {
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

/// Task attempts an executor's log shows started (a writer paused at its fault point) and not
/// finished.
fn writes_in_flight(log: &Path) -> Vec<String> {
    let text = read_text(log);
    let paused: Vec<String> = text
        .lines()
        .filter_map(|l| l.split("fault point partition_write: sleeping").nth(1))
        .filter_map(|rest| rest.split(" in ").nth(1))
        .map(|tid| tid.trim().to_string())
        .collect();
    paused
        .into_iter()
        .filter(|tid| !text.contains(&format!("Finished task : [{tid}]")))
        .collect()
}

#[test]
fn losing_an_executor_mid_write_recovers_to_the_embedded_output() {
    let _serial = one_cluster_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 20_000, 800, 78);
    let embedded = tmp.path().join("embedded");
    let distributed = tmp.path().join("distributed");
    let (i, o, e) = (s(&input), s(&distributed), s(&embedded));
    let (mut procs, url) = start_cluster(tmp.path(), 2, &[]);
    let port: u16 = url.trim_start_matches("df://127.0.0.1:").parse().unwrap();
    // The victim pauses in the middle of every file it writes (after its first batch), so
    // it is killed with a write under way, not between tasks.
    let victim_log = tmp.path().join("executor-2.log");
    procs.0.push(start_executor(
        port,
        tmp.path(),
        "executor-2",
        &[("LIVEREC_FAULT_SLEEP_MS_PARTITION_WRITE", "4000".to_string())],
    ));
    wait_for("three executors", Duration::from_secs(60), || {
        registered_executors(port) == 3
    });

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
        "120",
    ];
    let mut job = liverec()
        .args(args)
        .args(["--output", &o])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "a write under way on the victim",
        Duration::from_secs(60),
        || !writes_in_flight(&victim_log).is_empty(),
    );
    assert!(
        job.try_wait().unwrap().is_none(),
        "the job ended before the executor was killed"
    );
    procs.0[3].kill().unwrap();
    procs.0[3].wait().unwrap();
    // Its log is final now: the write it was in has no "Finished" line.
    let killed_mid_write = writes_in_flight(&victim_log);
    assert!(
        !killed_mid_write.is_empty(),
        "the victim had no write under way when killed"
    );
    let mut status = None;
    wait_for("the run to end", Duration::from_secs(240), || {
        status = job.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut job.stderr.take().unwrap(), &mut stderr).unwrap();
    wait_for(
        "the scheduler to drop the executor",
        Duration::from_secs(30),
        || registered_executors(port) == 2,
    );
    // Whatever happened, every committed partition is whole: listed files only, and no
    // attempt's file (the killed one's included) left in them or in staging.
    for t in ["user_profile", "samples", "exposure_samples"] {
        if let Ok(parts) = std::fs::read_dir(distributed.join(t)) {
            for p in parts {
                assert_partition_whole(&p.unwrap().path());
            }
        }
    }
    // The expected outcome is recovery: Ballista re-runs the lost tasks, and a writer stage
    // it re-ran on incomplete inputs is detected and written again from scratch
    // (cluster::write::WriterStageRerun). A failure must still be one clear line with no
    // partial output (checked above) — and it fails this test, naming it.
    let reason = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("no error line");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        status.success(),
        "the run did not recover from losing the executor in {killed_mid_write:?}: {reason}"
    );
    assert!(
        distributed
            .join(format!("training_sets/end={D}/manifest.json"))
            .exists()
    );
    // Recovered: the lost tasks ran again elsewhere, under new attempt names, and the output
    // equals the embedded run's row for row.
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
    let _serial = one_cluster_at_a_time();
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
