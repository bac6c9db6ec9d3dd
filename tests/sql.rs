//! `liverec sql`: every table registered with dt pruning, output formats, read-only, clear
//! errors, and DDL for other tools.

mod common;

use common::*;

fn setup() -> (tempfile::TempDir, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 10, 1200, 100, 5);
    run_ok(&[
        "run",
        "training_set",
        "--date",
        "2026-01-09",
        "--set",
        "label_days=2",
        "--input",
        &s(&input),
        "--output",
        &s(&output),
    ]);
    (tmp, s(&input), s(&output))
}

fn sql(i: &str, o: &str, extra: &[&str]) -> String {
    let mut args = vec!["sql", "--input", i, "--output", o];
    args.extend_from_slice(extra);
    run_ok(&args)
}

#[test]
fn queries_see_every_table_and_prune_by_dt() {
    let (tmp, i, o) = setup();
    let out = sql(
        &i,
        &o,
        &[
            "-e",
            "SELECT dt, COUNT(*) AS n FROM samples GROUP BY dt ORDER BY dt",
            "--format",
            "csv",
        ],
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("dt,n"));
    for day in ["2026-01-08", "2026-01-09"] {
        let rows = manifest(&tmp.path().join(format!("out/samples/dt={day}")))["rows"]
            .as_u64()
            .unwrap();
        assert_eq!(lines.next(), Some(format!("{day},{rows}").as_str()));
    }
    // Input and output tables side by side.
    let out = sql(
        &i,
        &o,
        &[
            "-e",
            "SELECT COUNT(*) AS n FROM samples s JOIN anchors a ON a.anchor_id = s.anchor_id AND a.dt = s.dt",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(v["n"].as_i64().unwrap() > 0);

    // A dt filter reads only its partitions: the plan lists only those files, and a broken
    // file in another day does not matter.
    std::fs::write(
        tmp.path().join("in/watches/dt=2026-01-05/broken.parquet"),
        b"not parquet",
    )
    .unwrap();
    let q = "SELECT COUNT(*) FROM watches WHERE dt BETWEEN DATE '2026-01-02' AND DATE '2026-01-03'";
    // (A plain COUNT(*) is answered from file statistics; a SUM must read the files.)
    let scan = "SELECT SUM(duration_s) FROM watches WHERE dt BETWEEN DATE '2026-01-02' AND DATE '2026-01-03'";
    let plan = sql(
        &i,
        &o,
        &["-e", &format!("EXPLAIN {scan}"), "--format", "csv"],
    );
    assert!(plan.contains("DataSourceExec"), "{plan}");
    assert!(
        plan.contains("dt=2026-01-02") && plan.contains("dt=2026-01-03"),
        "{plan}"
    );
    for other in ["dt=2026-01-01", "dt=2026-01-04", "dt=2026-01-05"] {
        assert!(!plan.contains(other), "{other} in the plan:\n{plan}");
    }
    let n = sql(&i, &o, &["-e", q, "--format", "csv"]);
    let expected: usize = ["2026-01-02", "2026-01-03"]
        .iter()
        .map(|d| {
            read_dir(&tmp.path().join(format!("in/watches/dt={d}")))
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(n.lines().nth(1), Some(expected.to_string().as_str()));

    // Staging leftovers are never visible.
    let stray = tmp.path().join("out/_staging/samples/dt=2026-01-07.x");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::copy(
        tmp.path()
            .join("out/samples/dt=2026-01-09/part-00000.parquet"),
        stray.join("part-00000.parquet"),
    )
    .unwrap();
    let days = sql(
        &i,
        &o,
        &[
            "-e",
            "SELECT COUNT(DISTINCT dt) AS d FROM samples",
            "--format",
            "csv",
        ],
    );
    assert_eq!(days.lines().nth(1), Some("2"));
}

#[test]
fn formats_limits_read_only_and_errors() {
    let (tmp, i, o) = setup();
    let table = sql(
        &i,
        &o,
        &[
            "-e",
            "SELECT user_id, label FROM samples ORDER BY user_id, anchor_id",
            "--limit",
            "5",
        ],
    );
    assert!(
        table.contains("| user_id") && table.contains("showing the first 5"),
        "{table}"
    );
    let file = tmp.path().join("x.parquet");
    sql(
        &i,
        &o,
        &[
            "-e",
            "SELECT * FROM user_profile WHERE dt = DATE '2026-01-09'",
            "--format",
            "parquet",
            "--out",
            &s(&file),
        ],
    );
    let rows: usize = {
        let f = std::fs::File::open(&file).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum()
    };
    assert_eq!(
        rows as u64,
        manifest(&tmp.path().join("out/user_profile/dt=2026-01-09"))["rows"]
            .as_u64()
            .unwrap()
    );

    for stmt in [
        "DROP TABLE samples",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO samples SELECT * FROM samples",
        "COPY (SELECT 1) TO '/tmp/liverec-should-not-exist.parquet'",
    ] {
        let err = run_err(&["sql", "--input", &i, "--output", &o, "-e", stmt]);
        assert!(
            err.contains("read-only") || err.contains("not supported"),
            "{stmt}: {err}"
        );
    }
    assert!(!std::path::Path::new("/tmp/liverec-should-not-exist.parquet").exists());
    let err = run_err(&["sql", "--input", &i, "--output", &o, "-e", "SELEC 1"]);
    assert!(
        err.contains("Line: 1, Column: 1") && err.lines().count() <= 2,
        "{err}"
    );
    let err = run_err(&[
        "sql",
        "--input",
        &i,
        "--output",
        &o,
        "-e",
        "SELECT * FROM nope",
    ]);
    assert!(err.contains("nope") && err.contains("not found"), "{err}");

    let ddl = sql(&i, &o, &["--ddl"]);
    assert!(
        ddl.contains("CREATE EXTERNAL TABLE \"samples\"") && ddl.contains("PARTITIONED BY (dt)"),
        "{ddl}"
    );
    assert!(ddl.contains("CREATE EXTERNAL TABLE \"watches\""));
}
