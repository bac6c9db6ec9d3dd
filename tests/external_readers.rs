//! Outputs are plain hive-partitioned Parquet: DuckDB and pyarrow read them with no special
//! options. Needs a Python with `duckdb` and `pyarrow` (`scripts/test` provides one in a venv;
//! set LIVEREC_PYTHON to use another).

mod common;

use std::process::Command;

use common::*;

#[test]
fn duckdb_and_pyarrow_read_outputs_without_options() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 2, 800, 60, 9);
    for day in ["2026-01-01", "2026-01-02"] {
        run_ok(&[
            "run",
            "heat",
            "--date",
            day,
            "--input",
            &s(&input),
            "--output",
            &s(&output),
        ]);
    }
    let rows: u64 = ["2026-01-01", "2026-01-02"]
        .iter()
        .map(|d| {
            manifest(&output.join(format!("heat/dt={d}")))["rows"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let heat = output.join("heat");
    let script = r#"
import sys, duckdb, pyarrow.parquet as pq
root = sys.argv[1]
con = duckdb.connect()
n, days, top = con.execute(
    f"SELECT count(*), count(DISTINCT dt), min(rank) FROM read_parquet('{root}/*/*.parquet')"
).fetchone()
t = pq.read_table(root)
print(n, days, top, t.num_rows, sorted(set(str(x) for x in t.column('dt').to_pylist())))
"#;
    let python = std::env::var("LIVEREC_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&heat)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e} (use scripts/test or set LIVEREC_PYTHON)")
        });
    assert!(
        out.status.success(),
        "{python} with duckdb+pyarrow failed (scripts/test installs them):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("{rows} 2 1 {rows} ['2026-01-01', '2026-01-02']"),
        "DuckDB / pyarrow saw something else"
    );
}
