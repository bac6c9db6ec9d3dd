//! Smoke test of the benchmark harness at small scale: every job of the daily workflow is
//! measured, the DuckDB peer runs on the same data, and both did the same work.

mod common;

use common::*;

#[test]
fn bench_small_measures_every_job_and_checks_the_peer_did_the_same_work() {
    let tmp = tempfile::tempdir().unwrap();
    let python = std::env::var("LIVEREC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/duckdb_peer.py");
    let stdout = run_ok(&[
        "bench",
        "--scale",
        "small",
        "--data",
        &s(tmp.path()),
        "--python",
        &python,
        "--peer-script",
        &s(&script),
        "--repeat",
        "3",
    ]);
    assert!(stdout.contains("peak RSS of any job"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("small/bench.json")).unwrap())
            .unwrap();
    let all = report["jobs"].as_array().unwrap();
    // First the row checks of every input day, which the jobs then reuse.
    let quality = &all[0];
    assert!(
        quality["job"].as_str().unwrap().starts_with("quality ("),
        "{quality}"
    );
    assert!(quality["seconds"].as_f64().unwrap() > 0.0);
    assert!(quality["rows_in"].as_u64().unwrap() > 0);
    let jobs = &all[1..];
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "heat",
            "training_set",
            "itemcf",
            "heat",
            "itemcf",
            "eval_recall",
            "train_lr",
            "train_gbdt",
            "train_gbdt_lr"
        ]
    );
    for j in &jobs[3..] {
        assert!(
            j.get("job_seconds_runs").is_none(),
            "only compared jobs repeat: {j}"
        );
    }
    for j in jobs {
        assert!(j["seconds"].as_f64().unwrap() > 0.0, "{j}");
        // The job's own time (compared with DuckDB's) excludes process start-up.
        let inside = j["job_seconds"].as_f64().unwrap();
        assert!(
            inside > 0.0 && inside <= j["seconds"].as_f64().unwrap(),
            "{j}"
        );
        assert!(j["peak_rss_mib"].as_f64().unwrap() > 10.0, "{j}");
        assert!(j["rows_in"].as_u64().unwrap() > 0, "{j}");
        assert!(j["rows_out"].as_u64().unwrap() > 0, "{j}");
    }
    // The three jobs DuckDB also runs: timed three times on both sides (the median run
    // reported), and the same row counts (and item-CF sums).
    for j in &jobs[..3] {
        let runs: Vec<f64> = j["job_seconds_runs"]
            .as_array()
            .unwrap_or_else(|| panic!("no runs: {j}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(runs.len(), 3, "{j}");
        assert_eq!(j["job_seconds"].as_f64().unwrap(), sorted[1], "{j}");
        let peer = &report["duckdb"]["jobs"][j["job"].as_str().unwrap()];
        let mut peer_runs: Vec<f64> = peer["runs"]
            .as_array()
            .unwrap_or_else(|| panic!("no peer runs: {peer}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        peer_runs.sort_by(f64::total_cmp);
        assert_eq!(peer_runs.len(), 3, "{peer}");
        assert_eq!(j["duckdb_seconds"].as_f64().unwrap(), peer_runs[1], "{j}");
        assert!(j["duckdb_seconds"].as_f64().unwrap() > 0.0, "{j}");
        assert!(j["ratio_to_duckdb"].as_f64().unwrap() > 0.0, "{j}");
        assert_eq!(j["same_work"], true, "{j}");
    }
    assert!(
        report["duckdb"]["jobs"]["itemcf"]["rows"]["pairs"]
            .as_u64()
            .unwrap()
            > 0
    );
}
