//! Every input and output on s3:// URLs, against a real S3-compatible server process
//! (`s3s-fs`, signature-checking) on loopback: the daily workflow with inputs generated
//! straight into a bucket equals the same workflow on local disk; a server stopped in the
//! middle of a write leaves nothing half-written visible and the rerun succeeds; of two runs
//! of one day only one commits; wrong credentials fail clearly.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::s3::{S3Server, SECRET};
use common::*;

const D: &str = "2026-01-16";

fn with_env(mut cmd: Command, env: &[(&'static str, String)]) -> Command {
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

/// Runs liverec against the server; returns stdout, failing the test with the output on an
/// error.
fn run_s3_ok(server: &S3Server, args: &[&str]) -> String {
    let out = with_env(liverec(), &server.envs(SECRET))
        .args(args)
        .output()
        .unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "liverec {}\n{o}\n{e}", args.join(" "));
    o.into_owned()
}

/// `liverec generate` straight into a bucket (`out` is an s3:// URL).
fn generate_in_bucket(
    server: &S3Server,
    out: &str,
    days: u32,
    users: u32,
    anchors: u32,
    seed: u64,
) {
    let args = generate_args(out, days, users, anchors, seed);
    run_s3_ok(server, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Every file under `dir`, as text where it is text, checked for the secret.
fn assert_no_secret(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_secret(&path);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(SECRET), "secret in {}", path.display());
        }
    }
}

#[test]
fn the_daily_workflow_on_s3_equals_local_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    // The same generated logs, once straight into the bucket, once on disk.
    let local_in = tmp.path().join("in");
    generate_in_bucket(&server, "s3://logs/in", 16, 1500, 150, 31);
    generate(&local_in, 16, 1500, 150, 31);
    assert!(
        server
            .dir("logs/in/watches")
            .join(format!("dt={D}"))
            .is_dir()
    );

    let local_out = tmp.path().join("out");
    run_ok(&[
        "workflow",
        "run",
        "daily",
        "--date",
        D,
        "--input",
        &s(&local_in),
        "--output",
        &s(&local_out),
    ]);
    let s3_args = [
        "workflow",
        "run",
        "daily",
        "--date",
        D,
        "--input",
        "s3://logs/in",
        "--output",
        "s3://lake/liverec",
    ];
    let printed = run_s3_ok(&server, &s3_args);
    let lake = server.dir("lake/liverec");

    // Same rows in every table; every partition holds exactly its manifest's files.
    assert!(all_rows(&lake, DAILY_TABLES) == all_rows(&local_out, DAILY_TABLES));
    for m in ["lr", "gbdt", "gbdt_lr"] {
        assert_eq!(latest_model(&lake, m), latest_model(&local_out, m), "{m}");
    }
    assert!(lake.join(format!("runs/daily/dt={D}/report.html")).exists());
    assert!(printed.contains("itemcf"), "{printed}");

    // The run state lives on S3: a second run skips every task; status reads it back.
    let again = run_s3_ok(&server, &s3_args);
    let status = run_s3_ok(
        &server,
        &[
            "workflow",
            "status",
            "daily",
            "--date",
            D,
            "--output",
            "s3://lake/liverec",
        ],
    );
    assert!(
        status.contains("skipped") && !status.contains("succeeded"),
        "{again}\n{status}"
    );
    assert!(!lake.join(format!("runs/daily/dt={D}/LOCK")).exists());

    // --force replaces every partition (conditional manifest updates); the old versions'
    // files are gone and the results are the same.
    let heat_before = manifest(&lake.join(format!("heat/dt={D}")));
    let mut forced = s3_args.to_vec();
    forced.push("--force");
    run_s3_ok(&server, &forced);
    let heat_after = manifest(&lake.join(format!("heat/dt={D}")));
    assert_ne!(heat_before["run_id"], heat_after["run_id"]);
    assert!(all_rows(&lake, DAILY_TABLES) == all_rows(&local_out, DAILY_TABLES));

    // Readers go through the committed view: liverec sql over the S3 output, and the
    // serving scorer loading a model from the bucket.
    let count = |out: &str, env_s3: bool| {
        let args = [
            "sql",
            "--output",
            out,
            "-e",
            "SELECT count(*) AS n FROM candidates",
        ];
        if env_s3 {
            run_s3_ok(&server, &args)
        } else {
            run_ok(&args)
        }
    };
    assert_eq!(
        count("s3://lake/liverec", true),
        count(&s(&local_out), false)
    );
    let scored = tmp.path().join("scored.parquet");
    run_s3_ok(
        &server,
        &[
            "score",
            "--model",
            "s3://lake/liverec/models/gbdt",
            "--input",
            &s(&local_out.join(format!("samples/dt={D}"))),
            "--output",
            &s(&scored),
        ],
    );
    assert!(
        read_dir(tmp.path())
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>()
            > 0
    );

    // No credential in anything written: manifests, run state, reports, models.
    assert_no_secret(&lake);
}

/// `liverec run heat` for D from the bucket into `s3://lake/out`, with the server's
/// credentials and the extra arguments.
fn heat_cmd(server: &S3Server, extra: &[&str]) -> Command {
    let mut cmd = with_env(liverec(), &server.envs(SECRET));
    cmd.args([
        "run",
        "heat",
        "--date",
        D,
        "--input",
        "s3://logs/in",
        "--output",
        "s3://lake/out",
    ])
    .args(extra);
    cmd
}

fn heat(server: &S3Server) {
    let out = heat_cmd(server, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("panicked"), "{err}");
}

/// Heat rows as liverec sql reads them through the committed view.
fn heat_rows(server: &S3Server) -> String {
    run_s3_ok(
        server,
        &[
            "sql",
            "--output",
            "s3://lake/out",
            "-e",
            "SELECT anchor_id, heat FROM heat ORDER BY anchor_id",
        ],
    )
}

/// The committed version of the heat partition is whole and consistent with its manifest;
/// returns its run id.
fn assert_committed_heat(part: &Path) -> String {
    let (m, batches) = read_committed(part);
    assert_heat_rows_match(&m, &batches, &part.display().to_string());
    m["run_id"].as_str().unwrap().to_string()
}

#[test]
fn a_server_stopped_mid_write_leaves_the_old_partition_and_the_rerun_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate(&server.dir("logs/in"), 16, 1200, 120, 5);
    let part = server.dir(&format!("lake/out/heat/dt={D}"));
    heat(&server);
    assert_partition_whole(&part);
    let v1 = assert_committed_heat(&part);
    let v1_rows = heat_rows(&server);

    // A rerun with other weights writes its files, then the server dies before the
    // manifest: the run fails after its retries, naming the object; readers still see v1.
    let v1_files = parquet_files(&part);
    let child = Watched::spawn(
        heat_cmd(&server, &["--set", "w_viewers=7"])
            .env("LIVEREC_FAULT_SLEEP_MS_BEFORE_COMMIT", "2500")
            .env("LIVEREC_LOG", "warn"),
    );
    // Its data files are written (hidden, run-stamped) before it pauses at the commit.
    child.wait_for_line("fault point before_commit", Duration::from_secs(60));
    assert_ne!(parquet_files(&part), v1_files, "the rerun wrote no file");
    server.stop();
    let (status, err) = child.finish();
    assert!(!status.success());
    assert!(
        err.contains("_manifest.json") && !err.contains("panicked"),
        "{err}"
    );
    server.restart();
    assert_eq!(assert_committed_heat(&part), v1);
    assert_eq!(
        heat_rows(&server),
        v1_rows,
        "a reader sees the uncommitted files"
    );

    // Kill the server at arbitrary moments of further reruns: the committed version is
    // always whole.
    for (n, delay) in [150u64, 400, 800].into_iter().enumerate() {
        let mut child = heat_cmd(&server, &["--set", &format!("w_gifters={}", n + 3)])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        server.stop();
        child.wait().unwrap();
        server.restart();
        assert_committed_heat(&part);
    }

    // Leftovers are hidden; cleanup removes them (not fresh ones by default), and a rerun
    // commits a whole partition again.
    let fresh = run_s3_ok(&server, &["cleanup", "--output", "s3://lake/out"]);
    assert!(
        fresh.contains("removed 0 staging object(s), 0 uncommitted"),
        "{fresh}"
    );
    heat(&server);
    let done = run_s3_ok(
        &server,
        &[
            "cleanup",
            "--output",
            "s3://lake/out",
            "--min-age-minutes",
            "0",
        ],
    );
    assert!(!done.contains(" 0 uncommitted"), "{done}");
    assert_partition_whole(&part);
    assert_eq!(heat_rows(&server), v1_rows);

    // Wrong credentials: one clear line naming the bucket; the secret tried is not echoed.
    let out = with_env(heat_cmd(&server, &[]), &server.envs("not-the-secret"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("s3://logs/in") && err.contains("403"), "{err}");
    assert!(
        !err.contains("not-the-secret") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn of_two_runs_of_one_day_only_one_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate(&server.dir("logs/in"), 16, 800, 80, 9);
    let part = server.dir(&format!("lake/out/heat/dt={D}"));
    // Both start before either commits (each sleeps at its commit); the second to commit
    // finds the partition changed since it started and gives up.
    let spawn = |weight: &str| {
        Watched::spawn(
            heat_cmd(&server, &["--set", weight])
                .env("LIVEREC_FAULT_SLEEP_MS_BEFORE_COMMIT", "5000")
                .env("LIVEREC_LOG", "warn"),
        )
    };
    for round in 0..2 {
        // Round 0: the partition is new (create-only put); round 1: it exists (e-tag match).
        // The second starts once the first is paused before a commit.
        let first = spawn("w_viewers=2");
        first.wait_for_line("fault point before_commit", Duration::from_secs(60));
        let second = spawn("w_viewers=3");
        let (a, b) = (first.finish(), second.finish());
        // Which one commits first depends on how long each takes to get there (both may
        // also commit the inputs' data-quality records, each behind the same 5 s fault
        // point): exactly one succeeds, the other is refused, and the partition is the
        // winner's.
        assert!(
            a.0.success() != b.0.success(),
            "round {round}: exactly one run may commit\nfirst: {}\nsecond: {}",
            a.1,
            b.1
        );
        let (winner, loser) = if a.0.success() { (2.0, &b) } else { (3.0, &a) };
        assert!(
            loser.1.contains("another run committed this partition"),
            "{}",
            loser.1
        );
        let m = assert_partition_whole(&part);
        assert_eq!(
            m["params"]["w_viewers"],
            serde_json::json!(winner),
            "round {round}"
        );
    }
}

#[test]
fn a_large_file_goes_up_in_parts_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs"]);
    // One day of a big platform: the exposures file is ~19 MB, over the writer's 10 MB buffer.
    generate_in_bucket(&server, "s3://logs/big", 1, 400000, 3000, 3);
    let part = server.dir("logs/big/exposures/dt=2026-01-01");
    let (m, batches) = read_committed(&part);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let name = &manifest_files(&m)[0];
    assert!(std::fs::metadata(part.join(name)).unwrap().len() > 10 << 20);
    // A multipart object's e-tag is `<md5 of the parts' md5s>-<parts>`.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{}", server.port))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name("logs")
        .with_access_key_id(common::s3::ACCESS_KEY)
        .with_secret_access_key(SECRET)
        .build()
        .unwrap();
    let key = object_store::path::Path::from(format!("big/exposures/dt=2026-01-01/{name}"));
    let head = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(object_store::ObjectStoreExt::head(&store, &key))
        .unwrap();
    let parts: u32 = head
        .e_tag
        .unwrap()
        .trim_matches('"')
        .rsplit_once('-')
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(parts >= 2, "uploaded in {parts} part(s)");
    let count = run_s3_ok(
        &server,
        &[
            "sql",
            "--input",
            "s3://logs/big",
            "--output",
            "s3://logs/out",
            "-e",
            "SELECT count(*) AS n FROM exposures",
        ],
    );
    assert!(count.contains(&format!("| {rows}")), "{count}");
}

#[test]
fn two_checks_of_one_day_at_once_both_succeed_with_one_record() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate_in_bucket(&server, "s3://logs/in", 16, 1500, 150, 31);
    let spawn = || {
        Watched::spawn(
            with_env(liverec(), &server.envs(SECRET))
                .env("LIVEREC_FAULT_SLEEP_MS_BEFORE_COMMIT", "3000")
                .env("LIVEREC_LOG", "info")
                .args([
                    "run",
                    "quality",
                    "--date",
                    D,
                    "--input",
                    "s3://logs/in",
                    "--output",
                    "s3://lake/out",
                ]),
        )
    };
    // Both check the day before either commits (the second starts once the first is paused
    // before its first commit); the second's commits are refused and it takes the first
    // one's record instead of failing.
    let first = spawn();
    first.wait_for_line("fault point before_commit", Duration::from_secs(60));
    let second = spawn();
    let (a, b) = (first.finish(), second.finish());
    for out in [&a, &b] {
        assert!(out.0.success(), "{}", out.1);
    }
    let log = &b.1;
    assert!(
        log.contains("another run recorded this check first"),
        "{log}"
    );
    for table in ["exposures", "watches"] {
        let part = server.dir(&format!("lake/out/quarantine/{table}/dt={D}"));
        assert_partition_whole(&part);
    }
}

#[test]
fn a_reader_of_the_replaced_version_finishes_while_a_rerun_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate(&server.dir("logs/in"), 16, 800, 80, 12);
    let part = server.dir(&format!("lake/out/heat/dt={D}"));
    heat(&server);
    // A reader takes the committed version's manifest (its file list) …
    let (old_manifest, old_rows) = read_committed(&part);
    let old_files = manifest_files(&old_manifest);
    // … a rerun with other weights commits meanwhile …
    output_ok(&mut heat_cmd(&server, &["--set", "w_viewers=9"]));
    let (new_manifest, _) = read_committed(&part);
    assert_ne!(new_manifest["run_id"], old_manifest["run_id"]);
    // … and the reader still reads the old version, whole, from the objects it listed.
    let rows: usize = old_files
        .iter()
        .flat_map(|f| read_file(&part.join(f)))
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, old_rows.iter().map(|b| b.num_rows()).sum::<usize>());
    let replaced = new_manifest["replaced"].as_array().unwrap();
    assert_eq!(replaced.len(), old_files.len(), "{new_manifest}");
    // Cleanup keeps them through the retention period, and removes them after it.
    let kept = run_s3_ok(
        &server,
        &[
            "cleanup",
            "--output",
            "s3://lake/out",
            "--min-age-minutes",
            "0",
        ],
    );
    assert!(kept.contains(" 0 replaced"), "{kept}");
    assert!(old_files.iter().all(|f| part.join(f).exists()));
    let gone = run_s3_ok(
        &server,
        &[
            "cleanup",
            "--output",
            "s3://lake/out",
            "--min-age-minutes",
            "0",
            "--retention-minutes",
            "0",
        ],
    );
    assert!(
        gone.contains(&format!("{} replaced", old_files.len())),
        "{gone}"
    );
    assert!(old_files.iter().all(|f| !part.join(f).exists()));
    assert_partition_whole(&part);
}

#[test]
fn credentials_in_a_location_are_refused_before_any_request_and_not_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(&tmp.path().join("s3"), &["logs", "lake"]);
    generate(&server.dir("logs/in"), 16, 300, 30, 13);
    for output in [
        "s3://AKIDLEAKED:sup3r-s3cret@lake/out",
        "s3://sup3r-s3cret@lake/out",
    ] {
        let out = with_env(liverec(), &server.envs(SECRET))
            .args(["run", "heat", "--date", D, "--input", "s3://logs/in"])
            .args(["--output", output])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("may not carry credentials"), "{err}");
        assert!(
            !err.contains("sup3r-s3cret") && !err.contains("AKIDLEAKED"),
            "{err}"
        );
    }
    // Nothing was written anywhere on the server.
    assert!(!server.dir("lake/out").exists());
}
