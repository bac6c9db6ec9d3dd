//! The daily workflow through the real binary: a full run, a no-op rerun, a run killed
//! mid-way that resumes (after breaking its stale lock) to outputs identical to an
//! uninterrupted run, a 3-day backfill, a concurrent run refused by the lock, and late data
//! rebuilding what was built from it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const D: &str = "2026-01-16";

fn state(output: &Path, day: &str) -> serde_json::Value {
    let path = output.join(format!("runs/daily/dt={day}/state.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn statuses(output: &Path, day: &str) -> Vec<(String, String)> {
    state(output, day)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_str().unwrap().to_string(),
                t[1]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn workflow(input: &Path, output: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = liverec();
    cmd.args([
        "workflow",
        "run",
        "daily",
        "--input",
        &s(input),
        "--output",
        &s(output),
    ])
    .args(extra);
    cmd
}

#[test]
fn a_full_run_then_a_no_op_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 16, 2000, 150, 21);
    let out = workflow(&input, &output, &["--date", D]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = state(&output, D);
    assert_eq!(st["status"], "succeeded");
    for (task, status) in statuses(&output, D) {
        assert_eq!(status, "succeeded", "{task}");
    }
    for table in DAILY_TABLES {
        assert!(output.join(table).join(format!("dt={D}")).exists() || *table == "recall_metrics");
    }
    assert!(output.join("recall_metrics/dt=2026-01-15").exists());
    // The profiles serving loads tomorrow.
    for table in ["user_profile", "user_anchor_profile"] {
        assert!(output.join(table).join("dt=2026-01-17").exists(), "{table}");
    }
    // ALS: vectors of D and its channel in D's candidates; D-1's evaluated with the others.
    for table in ["user_factors", "anchor_factors"] {
        assert!(
            output.join(table).join(format!("dt={D}")).exists(),
            "{table}"
        );
    }
    let sources: std::collections::HashSet<String> =
        read_dir(&output.join(format!("candidates/dt={D}")))
            .iter()
            .flat_map(|b| col_str(b, "source"))
            .flatten()
            .collect();
    assert!(
        sources.contains("als") && sources.contains("itemcf"),
        "{sources:?}"
    );
    let evaluated: std::collections::HashSet<String> =
        read_dir(&output.join("recall_metrics/dt=2026-01-15"))
            .iter()
            .flat_map(|b| col_str(b, "channel"))
            .flatten()
            .collect();
    assert!(evaluated.contains("als"), "{evaluated:?}");
    for m in ["lr", "gbdt", "gbdt_lr", "fm"] {
        assert!(output.join("models").join(m).join("LATEST").exists(), "{m}");
    }
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(output.join(format!("runs/daily/dt={D}/summary.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["models"].as_array().unwrap().len(), 4);
    assert!(summary["recall"].as_array().unwrap().len() >= 8);
    assert_eq!(summary["label_days"].as_array().unwrap().len(), 7);
    let html =
        std::fs::read_to_string(output.join(format!("runs/daily/dt={D}/report.html"))).unwrap();
    assert!(
        html.matches("<svg").count() >= 7,
        "volume + 3 × (ROC, calibration)"
    );
    assert!(html.contains("train_gbdt") && html.contains("Recall of 2026-01-15"));

    // The second run changes nothing: every task is skipped, no partition is rewritten.
    let before = all_rows(&output, DAILY_TABLES);
    let heat_manifest = manifest(&output.join(format!("heat/dt={D}")));
    let out = workflow(&input, &output, &["--date", D]).output().unwrap();
    assert!(out.status.success());
    for (task, status) in statuses(&output, D) {
        assert_eq!(status, "skipped", "{task}");
    }
    assert_eq!(
        manifest(&output.join(format!("heat/dt={D}")))["run_id"],
        heat_manifest["run_id"]
    );
    assert!(before == all_rows(&output, DAILY_TABLES));
    let status = run_ok(&[
        "workflow",
        "status",
        "daily",
        "--date",
        D,
        "--output",
        &s(&output),
    ]);
    assert!(
        status.contains("train_gbdt") && status.contains("skipped"),
        "{status}"
    );

    // --force reruns everything; a changed parameter would too (fingerprint).
    let out = workflow(&input, &output, &["--date", D, "--force"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(statuses(&output, D).iter().all(|(_, s)| s == "succeeded"));
}

#[test]
fn a_killed_run_resumes_to_the_same_outputs_and_the_lock_guards_the_day() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 2000, 150, 22);
    let reference = tmp.path().join("reference");
    assert!(
        workflow(&input, &reference, &["--date", D])
            .status()
            .unwrap()
            .success()
    );

    // A slow run (every partition commit waits), killed once some tasks are done.
    let output = tmp.path().join("out");
    let mut child = workflow(&input, &output, &["--date", D])
        .env("LIVEREC_FAULT_SLEEP_MS_BEFORE_COMMIT", "300")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let done = std::fs::read(output.join(format!("runs/daily/dt={D}/state.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |st| {
                st["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t[1]["status"] == "succeeded")
                    .count()
            });
        if done >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let second_run = || {
        let args = [
            "workflow",
            "run",
            "daily",
            "--date",
            D,
            "--input",
            &s(&input),
            "--output",
            &s(&output),
        ];
        run_err(&args)
    };
    // While it runs, a second run of the same day is refused.
    let err = second_run();
    assert!(err.contains("is locked by run"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed: Vec<_> = statuses(&output, D);
    assert!(
        killed.iter().any(|(_, s)| s != "succeeded"),
        "killed too late: {killed:?}"
    );

    // The killed run's lock is stale: refused until broken explicitly.
    let err = second_run();
    assert!(err.contains("--break-lock"), "{err}");
    output_ok(&mut workflow(
        &input,
        &output,
        &["--date", D, "--break-lock"],
    ));
    let resumed = statuses(&output, D);
    // Tasks finished before the kill were not redone.
    for ((task, before), (_, after)) in killed.iter().zip(&resumed) {
        if before == "succeeded" {
            assert_eq!(after, "skipped", "{task}");
        } else {
            assert_eq!(after, "succeeded", "{task}");
        }
    }
    assert!(
        all_rows(&reference, DAILY_TABLES) == all_rows(&output, DAILY_TABLES),
        "outputs differ from an uninterrupted run"
    );
    for m in ["lr", "gbdt", "gbdt_lr"] {
        assert_eq!(latest_model(&reference, m), latest_model(&output, m), "{m}");
    }
}

#[test]
fn a_three_day_backfill_runs_in_order_and_reuses_the_previous_days() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 18, 2000, 150, 23);
    // A looser gate for all three training tasks (a `--set` for every task whose job takes
    // the parameter).
    let out = workflow(
        &input,
        &output,
        &[
            "--from",
            "2026-01-16",
            "--to",
            "2026-01-18",
            // Each day's models meet the previous day's on the same validation rows; on 2,000
            // users consecutive GBDT+LR models differ by ~0.02 AUC there (0.7834 against
            // 0.8029 once), more than the default 0.005 allows.
            "--set",
            "max_auc_drop=0.05",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut finished = Vec::new();
    for day in ["2026-01-16", "2026-01-17", "2026-01-18"] {
        let st = state(&output, day);
        assert_eq!(st["status"], "succeeded", "{day}");
        finished.push(st["finished"].as_str().unwrap().to_string());
        assert!(output.join(format!("heat/dt={day}")).exists());
    }
    assert!(
        finished.windows(2).all(|w| w[0] <= w[1]),
        "days ran out of order"
    );
    // Day 17's previous-day tasks are what day 16's run committed, and so are the profiles
    // of its label day 17 (day 16's profiles_next_day): its training set wrote the samples.
    let written: Vec<String> = state(&output, "2026-01-17")["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == "training_set")
        .unwrap()[1]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["location"].as_str().unwrap().to_string())
        .collect();
    let label_day = |table: &str| format!("/{table}/dt=2026-01-17");
    assert!(
        written.iter().any(|l| l.contains(&label_day("samples"))),
        "{written:?}"
    );
    assert!(
        !written
            .iter()
            .any(|l| l.contains(&label_day("user_profile"))),
        "{written:?}"
    );
    let st = statuses(&output, "2026-01-17");
    for task in ["heat_previous_day", "itemcf_previous_day"] {
        assert!(
            st.contains(&(task.to_string(), "skipped".to_string())),
            "{task}: {st:?}"
        );
    }
    let err = run_err(&[
        "workflow",
        "run",
        "daily",
        "--date",
        "2026-01-18",
        "--set",
        "nope=1",
        "--input",
        &s(&input),
        "--output",
        &s(&output),
    ]);
    assert!(
        err.contains("no task of workflow daily takes `nope`"),
        "{err}"
    );
    // A bad range is a clear error.
    let err = run_err(&[
        "workflow",
        "run",
        "daily",
        "--from",
        "2026-01-18",
        "--to",
        "2026-01-16",
        "--input",
        &s(&input),
        "--output",
        &s(&output),
    ]);
    assert!(err.contains("before --from"), "{err}");
}

/// A copy of the project files (LIVEREC_HOME) with a small drill workflow: the data-quality
/// check, then heat; one retry after 0.2 s.
fn drill_home(dir: &Path) -> std::path::PathBuf {
    home_with_drill(
        dir,
        r#"name = "drill"
description = "validate then heat, for fault drills"
max_parallel = 1
retries = 1
retry_backoff_s = 0.2
task_timeout_s = 600

[[tasks]]
name = "validate"
job = "quality"

[[tasks]]
name = "heat"
job = "heat"
after = ["validate"]
"#,
    )
}

/// A copy of the project files (LIVEREC_HOME) with `workflow` as workflows/drill.toml.
fn home_with_drill(dir: &Path, workflow: &str) -> std::path::PathBuf {
    let home = dir.join("home");
    for sub in ["jobs", "sql", "workflows"] {
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(sub),
            &home.join(sub),
        );
    }
    std::fs::write(home.join("workflows/drill.toml"), workflow).unwrap();
    home
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn drill(home: &Path, input: &Path, output: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = liverec();
    cmd.env("LIVEREC_HOME", home)
        .args(["workflow", "run", "drill", "--date", D])
        .args(["--input", &s(input), "--output", &s(output)])
        .args(extra);
    cmd
}

fn drill_task(output: &Path, task: &str) -> serde_json::Value {
    let path = output.join(format!("runs/drill/dt={D}/state.json"));
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    st["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == task)
        .unwrap()[1]
        .clone()
}

/// `liverec workflow ARGS` on the drill home; its stdout.
fn drill_cmd(home: &Path, input: &Path, output: &Path, args: &[&str]) -> String {
    let mut c = liverec();
    c.env("LIVEREC_HOME", home)
        .args(["workflow"])
        .args(args)
        .args(["--input", &s(input), "--output", &s(output)]);
    String::from_utf8_lossy(&output_ok(&mut c).stdout).into_owned()
}

/// Late data: the same bytes written again as a new file (a new modification time).
fn rewrite(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::remove_file(file).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// Processes still running with `needle` in their command line (children left behind).
fn processes_with(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .filter(|cmd| cmd.contains(needle) && !cmd.contains(" workflow "))
        .collect()
}

#[test]
fn a_task_that_fails_once_is_retried_and_one_that_keeps_failing_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 600, 60, 41);
    let home = drill_home(tmp.path());

    let output = tmp.path().join("once");
    output_ok(drill(&home, &input, &output, &[]).env("LIVEREC_FAULT_FAIL_ATTEMPTS", "heat:1"));
    let heat = drill_task(&output, "heat");
    assert_eq!(
        (heat["status"].as_str(), heat["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    assert_eq!(drill_task(&output, "validate")["attempts"], 1);

    let output = tmp.path().join("always");
    let out = drill(&home, &input, &output, &[])
        .env("LIVEREC_FAULT_FAIL_ATTEMPTS", "heat:5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("task heat failed") && err.contains("injected fault"),
        "{err}"
    );
    let heat = drill_task(&output, "heat");
    assert_eq!(
        (heat["status"].as_str(), heat["attempts"].as_u64()),
        (Some("failed"), Some(2))
    );
    assert!(
        !output.join("heat").exists(),
        "a failed task committed output"
    );
}

#[test]
fn a_task_past_its_timeout_is_stopped_retried_and_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 600, 60, 42);
    let home = drill_home(tmp.path());
    let output = tmp.path().join("out");
    // Every job stalls 60 s before it starts: each attempt of the first task is stopped at
    // its 2 s limit (the child killed, not left running), retried once, and the run fails.
    let started = Instant::now();
    let out = drill(&home, &input, &output, &["--task-timeout", "2"])
        .env("LIVEREC_FAULT_SLEEP_MS_JOB_START", "60000")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the stalled attempts were waited for"
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("task validate failed: timed out after 2 s"),
        "{err}"
    );
    let validate = drill_task(&output, "validate");
    assert_eq!(
        (validate["status"].as_str(), validate["attempts"].as_u64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(drill_task(&output, "heat")["status"], "pending");
    assert!(
        processes_with(&s(&output)).is_empty(),
        "{:?}",
        processes_with(&s(&output))
    );
    assert!(!output.join(format!("runs/drill/dt={D}/LOCK")).exists());
}

#[test]
fn sigterm_stops_a_workflow_cleanly_and_a_live_lock_cannot_be_broken() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 600, 60, 43);
    let home = drill_home(tmp.path());
    let output = tmp.path().join("out");
    let mut child = drill(&home, &input, &output, &[])
        .env("LIVEREC_FAULT_SLEEP_MS_JOB_START", "60000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state_path = output.join(format!("runs/drill/dt={D}/state.json"));
    wait_for("the first task to run", Duration::from_secs(60), || {
        read_text(&state_path).contains("\"running\"")
    });
    // The owner is alive: breaking its lock is refused.
    let err = String::from_utf8_lossy(
        &drill(&home, &input, &output, &["--break-lock"])
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("--break-lock refused"), "{err}");

    let started = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "slow to stop");
    assert_eq!(status.code(), Some(143));
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(st["status"], "interrupted");
    assert_eq!(drill_task(&output, "validate")["status"], "interrupted");
    assert!(
        !output.join(format!("runs/drill/dt={D}/LOCK")).exists(),
        "lock left behind"
    );
    assert!(
        processes_with(&s(&output)).is_empty(),
        "{:?}",
        processes_with(&s(&output))
    );
    // Nothing of the interrupted attempt was committed, and the day reruns from scratch.
    assert!(
        !output.join("quarantine").exists()
            || std::fs::read_dir(output.join("quarantine"))
                .unwrap()
                .next()
                .is_none()
    );
    output_ok(&mut drill(&home, &input, &output, &[]));
    assert_eq!(drill_task(&output, "heat")["status"], "succeeded");
}

#[test]
fn late_data_and_changed_code_are_named_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 600, 60, 44);
    let home = drill_home(tmp.path());
    let output = tmp.path().join("out");
    output_ok(&mut drill(&home, &input, &output, &[]));
    let cmd = |args: &[&str]| drill_cmd(&home, &input, &output, args);
    let stale = cmd(&["stale", "drill", "--from", D, "--to", D]);
    assert!(stale.contains("no output of drill"), "{stale}");
    let status = cmd(&["status", "drill", "--date", D]);
    assert!(
        status.contains("heat") && status.contains("up to date"),
        "{status}"
    );

    // A late rewrite of one input day: the outputs built from it are stale, and say why.
    rewrite(&input.join(format!("watches/dt={D}/part-00000.parquet")));
    let stale = cmd(&["stale", "drill", "--from", D, "--to", D]);
    assert!(
        stale.contains("heat") && stale.contains(&format!("input watches/dt={D} was rewritten")),
        "{stale}"
    );
    let status = cmd(&["status", "drill", "--date", D]);
    assert!(status.contains("would run: input watches"), "{status}");
    let before = manifest(&output.join(format!("heat/dt={D}")))["run_id"].clone();
    cmd(&["run", "drill", "--date", D, "--rebuild-stale"]);
    assert_ne!(
        manifest(&output.join(format!("heat/dt={D}")))["run_id"],
        before
    );
    let stale = cmd(&["stale", "drill", "--from", D, "--to", D]);
    assert!(stale.contains("no output of drill"), "{stale}");

    // Changed code (here an edited query): the tasks would run again, saying why.
    let sql = home.join("sql/heat/heat.sql");
    let text = std::fs::read_to_string(&sql).unwrap();
    std::fs::write(&sql, format!("{text}\n")).unwrap();
    let status = cmd(&["status", "drill", "--date", D]);
    assert!(status.contains("would run: the code changed"), "{status}");
}

#[test]
fn late_data_in_a_profile_window_rebuilds_its_tile_and_the_label_days_after_it() {
    // Label days 01-15 and 01-16 with 3-day windows (01-12 .. 01-14 and 01-13 .. 01-15).
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 16, 600, 60, 45);
    let home = home_with_drill(
        tmp.path(),
        r#"name = "drill"
description = "validate, tiles, training set"
max_parallel = 1

[[tasks]]
name = "validate"
job = "quality"

[[tasks]]
name = "tiles"
job = "tiles"
after = ["validate"]

[[tasks]]
name = "training_set"
job = "training_set"
after = ["tiles"]
set = { label_days = 2, profile_days = 3 }
"#,
    );
    let output = tmp.path().join("out");
    output_ok(&mut drill(&home, &input, &output, &[]));
    let run_ids = || -> Vec<(String, String)> {
        [
            "tile_watches/dt=2026-01-14",
            "tile_watches/dt=2026-01-15",
            "user_profile/dt=2026-01-15",
            "user_profile/dt=2026-01-16",
            "samples/dt=2026-01-15",
            "samples/dt=2026-01-16",
        ]
        .into_iter()
        .map(|p| {
            let id = manifest(&output.join(p))["run_id"]
                .as_str()
                .unwrap()
                .to_string();
            (p.to_string(), id)
        })
        .collect()
    };
    let before = run_ids();

    // Watches of 01-15 rewritten: the label of day 15 and the window of day 16.
    rewrite(&input.join("watches/dt=2026-01-15/part-00000.parquet"));
    let cmd = |args: &[&str]| drill_cmd(&home, &input, &output, args);
    let stale = cmd(&["stale", "drill", "--from", D, "--to", D]);
    assert!(
        stale.contains("training_set")
            && stale.contains("input watches/dt=2026-01-15 was rewritten")
            && !stale.contains(" tiles "),
        "{stale}"
    );
    cmd(&["run", "drill", "--date", D, "--rebuild-stale"]);
    let after = run_ids();
    let rebuilt: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, _)| b.0.as_str())
        .collect();
    // Day 15's profiles end on 01-14 and the tile of 01-14 did not change: both reused.
    assert_eq!(
        rebuilt,
        [
            "tile_watches/dt=2026-01-15",
            "user_profile/dt=2026-01-16",
            "samples/dt=2026-01-15",
            "samples/dt=2026-01-16",
        ]
    );
    let stale = cmd(&["stale", "drill", "--from", D, "--to", D]);
    assert!(stale.contains("no output of drill"), "{stale}");
}
