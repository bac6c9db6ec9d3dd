//! The heat job end to end through the real binary: numbers against an independent recount,
//! partition pruning, atomic reruns, and runs killed midway.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const DAY: &str = "2026-01-02";

struct Expected {
    anchor_id: i64,
    category: String,
    viewers: i64,
    gifters: i64,
    interactors: i64,
    heat: f64,
    rank: i64,
    category_rank: i64,
}

/// Recomputes heat for a day directly from the raw Parquet files, without the engine.
fn recount(input: &Path, day: &str, w: (f64, f64, f64)) -> Vec<Expected> {
    let mut viewers: HashMap<i64, HashSet<i64>> = HashMap::new();
    for b in read_dir(&input.join(format!("watches/dt={day}"))) {
        for (a, u) in col_i64(&b, "anchor_id")
            .into_iter()
            .zip(col_i64(&b, "user_id"))
        {
            viewers.entry(a).or_default().insert(u);
        }
    }
    let mut gifters: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut interactors: HashMap<i64, HashSet<i64>> = HashMap::new();
    for b in read_dir(&input.join(format!("interactions/dt={day}"))) {
        let kinds = col_str(&b, "kind");
        for ((a, u), k) in col_i64(&b, "anchor_id")
            .into_iter()
            .zip(col_i64(&b, "user_id"))
            .zip(kinds)
        {
            match k.as_deref() {
                Some("gift") => {
                    gifters.entry(a).or_default().insert(u);
                }
                Some("comment" | "like" | "share" | "follow") => {
                    interactors.entry(a).or_default().insert(u);
                }
                _ => {}
            }
        }
    }
    let mut category: HashMap<i64, String> = HashMap::new();
    for b in read_dir(&input.join(format!("anchors/dt={day}"))) {
        for (a, c) in col_i64(&b, "anchor_id")
            .into_iter()
            .zip(col_str(&b, "category"))
        {
            category.insert(a, c.unwrap_or_else(|| "unknown".into()));
        }
    }
    let anchors: HashSet<i64> = viewers
        .keys()
        .chain(gifters.keys())
        .chain(interactors.keys())
        .copied()
        .collect();
    let count = |m: &HashMap<i64, HashSet<i64>>, a: i64| m.get(&a).map_or(0, |s| s.len() as i64);
    let mut rows: Vec<Expected> = anchors
        .into_iter()
        .map(|a| {
            let (v, g, i) = (
                count(&viewers, a),
                count(&gifters, a),
                count(&interactors, a),
            );
            Expected {
                anchor_id: a,
                category: category
                    .get(&a)
                    .cloned()
                    .unwrap_or_else(|| "unknown".into()),
                viewers: v,
                gifters: g,
                interactors: i,
                heat: w.0 * v as f64 + w.1 * g as f64 + w.2 * i as f64,
                rank: 0,
                category_rank: 0,
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        y.heat
            .total_cmp(&x.heat)
            .then(x.anchor_id.cmp(&y.anchor_id))
    });
    let mut per_category: HashMap<String, i64> = HashMap::new();
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i as i64 + 1;
        let c = per_category.entry(r.category.clone()).or_default();
        *c += 1;
        r.category_rank = *c;
    }
    rows
}

fn assert_heat_matches(output: &Path, input: &Path, w: (f64, f64, f64)) {
    let expected = recount(input, DAY, w);
    let batches = read_dir(&output.join(format!("heat/dt={DAY}")));
    let mut got = Vec::new();
    for b in &batches {
        let ids = col_i64(b, "anchor_id");
        let cats = col_str(b, "category");
        let (v, g, i) = (
            col_i64(b, "viewers"),
            col_i64(b, "gifters"),
            col_i64(b, "interactors"),
        );
        let (h, r, cr) = (
            col_f64(b, "heat"),
            col_i64(b, "rank"),
            col_i64(b, "category_rank"),
        );
        for k in 0..b.num_rows() {
            got.push((
                ids[k],
                cats[k].clone().unwrap(),
                v[k],
                g[k],
                i[k],
                h[k],
                r[k],
                cr[k],
            ));
        }
    }
    got.sort_by_key(|r| r.6);
    assert_eq!(got.len(), expected.len(), "anchor count");
    assert!(
        expected.len() > 40,
        "too few active anchors for a meaningful test"
    );
    assert!(expected.iter().any(|e| e.gifters > 0), "no gifts at all");
    for (g, e) in got.iter().zip(&expected) {
        let want = (
            e.anchor_id,
            e.category.clone(),
            e.viewers,
            e.gifters,
            e.interactors,
            e.heat,
            e.rank,
            e.category_rank,
        );
        assert_eq!(*g, want);
    }
}

fn setup(days: u32) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    let output = tmp.path().join("output");
    generate(&input, days, 1500, 120, 7);
    (tmp, input, output)
}

fn heat_args<'a>(input: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run", "heat", "--date", DAY, "--input", input, "--output", output,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn heat_matches_an_independent_recount_and_rerun_replaces_it() {
    let (_tmp, input, output) = setup(3);
    let (i, o) = (s(&input), s(&output));
    let stdout = run_ok(&heat_args(&i, &o, &[]));
    assert!(stdout.contains("wrote heat"), "{stdout}");
    assert_heat_matches(&output, &input, (1.0, 5.0, 2.0));

    let part = output.join(format!("heat/dt={DAY}"));
    let first = assert_partition_whole(&part);
    assert_eq!(first["params"]["w_gifters"], 5.0);
    // Only day D of each input was read.
    for input in first["inputs"].as_array().unwrap() {
        assert_eq!(input["partitions"], serde_json::json!([DAY]), "{input}");
    }
    // The row checks of the inputs are recorded per input (data-quality layer).
    let watches = &first["inputs"][0];
    assert_eq!(watches["table"], "watches");
    assert!(
        watches["quality"]["rows"].as_u64().unwrap() > 0,
        "{watches}"
    );

    // A rerun with other weights replaces the partition as a whole.
    run_ok(&heat_args(
        &i,
        &o,
        &["--set", "w_gifters=10", "--set", "w_viewers=0.5"],
    ));
    assert_heat_matches(&output, &input, (0.5, 10.0, 2.0));
    let second = assert_partition_whole(&part);
    assert_ne!(first["run_id"], second["run_id"]);
    assert_eq!(second["params"]["w_gifters"], 10.0);
    // Nothing is left in staging after a successful commit.
    let staging = output.join("_staging/heat");
    let leftovers = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "staging leftovers in {}", staging.display());
}

#[test]
fn parameters_are_typed_and_validated_before_sql() {
    let (_tmp, input, output) = setup(2);
    let (i, o) = (s(&input), s(&output));
    let err = run_err(&heat_args(
        &i,
        &o,
        &["--set", "w_gifters=5; DROP TABLE heat"],
    ));
    assert!(
        err.contains("w_gifters") && err.contains("not a number"),
        "{err}"
    );
    let err = run_err(&heat_args(&i, &o, &["--set", "w_viewers=-1"]));
    assert!(err.contains("below the minimum"), "{err}");
    let err = run_err(&heat_args(&i, &o, &["--set", "nope=1"]));
    assert!(err.contains("unknown parameter `nope`"), "{err}");
    let err = run_err(&[
        "run",
        "heat",
        "--date",
        "2026-02-30",
        "--input",
        &i,
        "--output",
        &o,
    ]);
    assert!(
        err.contains("--date") && err.contains("2026-02-30"),
        "{err}"
    );
    assert!(
        !output.join("heat").exists(),
        "nothing may be written on bad parameters"
    );
    // A run past its deadline fails clearly and commits nothing.
    let err = run_err(&heat_args(&i, &o, &["--timeout", "0"]));
    assert!(err.contains("exceeded its timeout of 0 s"), "{err}");
    assert!(!output.join("heat/dt=2026-01-02").exists());
}

#[test]
fn a_job_for_one_day_reads_only_that_day() {
    let (_tmp, input, output) = setup(3);
    let (i, o) = (s(&input), s(&output));
    // Poison the next day with a file that is not Parquet: reading it would fail.
    let bad = input.join("watches/dt=2026-01-03/zzz.parquet");
    std::fs::write(&bad, b"this is not a parquet file").unwrap();
    run_ok(&heat_args(&i, &o, &[]));
    assert_heat_matches(&output, &input, (1.0, 5.0, 2.0));
    let err = run_err(&[
        "run",
        "heat",
        "--date",
        "2026-01-03",
        "--input",
        &i,
        "--output",
        &o,
    ]);
    assert!(
        err.contains("zzz.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(!output.join("heat/dt=2026-01-03").exists());
    // A missing input day is a named error, not an empty result.
    let err = run_err(&[
        "run",
        "heat",
        "--date",
        "2026-01-09",
        "--input",
        &i,
        "--output",
        &o,
    ]);
    assert!(
        err.contains("lacks 1 day(s)") && err.contains("2026-01-09"),
        "{err}"
    );
}

fn wait_for(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The heat values of a committed partition agree with the weights in its own manifest
/// (so the partition is not a mix of two runs).
fn assert_consistent_with_manifest(part: &Path) {
    let m = assert_partition_whole(part);
    assert_heat_rows_match(&m, &read_dir(part), &part.display().to_string());
}

#[test]
fn a_killed_run_leaves_the_old_partition_or_the_new_one() {
    let (_tmp, input, output) = setup(2);
    let (i, o) = (s(&input), s(&output));
    run_ok(&heat_args(&i, &o, &[]));
    let part = output.join(format!("heat/dt={DAY}"));
    let first = assert_partition_whole(&part);

    // Kill the run at a known point: everything staged, commit not yet done.
    let mut child = liverec()
        .args(heat_args(&i, &o, &["--set", "w_viewers=3"]))
        .env("LIVEREC_FAULT_SLEEP_MS_BEFORE_COMMIT", "60000")
        .spawn()
        .unwrap();
    let staging = output.join("_staging/heat");
    let staged_manifest = || {
        std::fs::read_dir(&staging)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path().join("_manifest.json"))
    };
    let start = Instant::now();
    let mut staged = None;
    while start.elapsed() < Duration::from_secs(60) && staged.is_none() {
        staged = staged_manifest().filter(|p| p.exists());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(staged.is_some(), "the run never staged its partition");
    assert!(wait_for(staged.as_ref().unwrap(), Duration::from_secs(5)));
    child.kill().unwrap();
    child.wait().unwrap();
    let after = assert_partition_whole(&part);
    assert_eq!(
        after["run_id"], first["run_id"],
        "an uncommitted run became visible"
    );
    assert_consistent_with_manifest(&part);

    // Kill runs at arbitrary moments: the partition is always whole and self-consistent.
    for (n, delay) in [30u64, 120, 250, 400, 700, 1100].into_iter().enumerate() {
        let mut child = liverec()
            .args(heat_args(
                &i,
                &o,
                &["--set", &format!("w_viewers={}", n + 2)],
            ))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        assert_consistent_with_manifest(&part);
    }

    // Leftovers are only in staging — among them, as a kill during a put leaves it, the
    // object store's hidden upload file `<name>#<n>` (planted here, as the kills above
    // leave one only by chance); cleanup removes them and a rerun succeeds.
    // Direct puts outside staging (a workflow's state, a model's LATEST) leave the same kind
    // of file where they were going: removed too, when old enough, and nothing else there.
    let cut_off = output.join("_staging/heat/dt=2026-01-02-killed/part-00000.parquet#1");
    std::fs::create_dir_all(cut_off.parent().unwrap()).unwrap();
    std::fs::write(&cut_off, b"PAR1 half a file").unwrap();
    let state_cut_off = output.join("runs/daily/dt=2026-01-02/state.json#1");
    std::fs::create_dir_all(state_cut_off.parent().unwrap()).unwrap();
    std::fs::write(&state_cut_off, b"{\"tasks\":").unwrap();
    let young = run_ok(&["cleanup", "--output", &o]);
    assert!(
        young.contains("0 interrupted upload file(s)") && state_cut_off.exists(),
        "an upload younger than the minimum age was removed: {young}"
    );
    std::thread::sleep(Duration::from_millis(20));
    let cleaned = run_ok(&["cleanup", "--output", &o, "--min-age-minutes", "0"]);
    assert!(
        cleaned.contains("1 interrupted upload file(s)"),
        "cleanup did not report the upload outside staging: {cleaned}"
    );
    assert!(!output.join("_staging").exists());
    assert!(
        !state_cut_off.exists(),
        "an upload outside staging was left"
    );
    assert!(
        part.join("_manifest.json").exists(),
        "cleanup removed a committed file"
    );
    run_ok(&heat_args(&i, &o, &[]));
    assert_heat_matches(&output, &input, (1.0, 5.0, 2.0));
}

#[test]
fn the_peers_reference_heat_query_gives_the_same_ranking() {
    // bench/duckdb_peer.py runs sql/heat/reference/heat.sql (DuckDB's fastest form of the
    // same ranking): run it as the job's query and require the job's rows.
    let (tmp, input, output) = setup(3);
    let home = tmp.path().join("home");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["jobs", "sql", "workflows"] {
        common::dirty::copy_tree(&root.join(dir), &home.join(dir));
    }
    std::fs::copy(
        root.join("sql/heat/reference/heat.sql"),
        home.join("sql/heat/heat.sql"),
    )
    .unwrap();
    let (i, o) = (s(&input), s(&output));
    run_ok(&heat_args(&i, &o, &[]));
    let job_rows = read_dir(&output.join(format!("heat/dt={DAY}")));
    let reference_out = tmp.path().join("reference-out");
    let r = s(&reference_out);
    output_ok(
        liverec()
            .env("LIVEREC_HOME", &home)
            .args(heat_args(&i, &r, &[])),
    );
    let reference_rows = read_dir(&reference_out.join(format!("heat/dt={DAY}")));
    let rows = |batches: &[arrow::array::RecordBatch]| -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    b.columns()
                        .iter()
                        .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                })
            })
            .collect()
    };
    let (ours, theirs) = (rows(&job_rows), rows(&reference_rows));
    assert!(ours.len() > 10, "{} rows", ours.len());
    assert_eq!(ours, theirs);
    assert_heat_matches(&reference_out, &input, (1.0, 5.0, 2.0));
}
