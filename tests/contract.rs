//! The input data contract and the generator: generated data passes, harmless physical
//! variants are accepted with identical results, violations are named errors.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::*;
use parquet::arrow::ArrowWriter;

fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Rewrites every file of a partition with some columns cast to other types.
fn rewrite_with(dir: &Path, casts: &[(&str, DataType)]) {
    let batches = read_dir(dir);
    let schema = batches[0].schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match casts.iter().find(|(n, _)| n == f.name()) {
            Some((_, t)) => Field::new(f.name(), t.clone(), true),
            None => f.as_ref().clone(),
        })
        .collect();
    let new_schema = Arc::new(Schema::new(fields));
    let converted: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .zip(new_schema.fields())
                .map(|(c, f)| cast(c, f.data_type()).unwrap())
                .collect();
            RecordBatch::try_new(new_schema.clone(), cols).unwrap()
        })
        .collect();
    for f in parquet_files(dir) {
        std::fs::remove_file(f).unwrap();
    }
    write_parquet(&dir.join("part-00000.parquet"), &converted);
}

#[test]
fn generated_data_passes_the_contract_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    generate(&a, 2, 800, 60, 11);
    generate(&b, 2, 800, 60, 11);
    generate(&c, 2, 800, 60, 12);
    let out = run_ok(&[
        "validate",
        "--input",
        &s(&a),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
    ]);
    assert!(out.contains("match the data contract"), "{out}");
    for table in [
        "exposures",
        "watches",
        "interactions",
        "live_sessions",
        "users",
        "anchors",
    ] {
        for day in ["2026-01-01", "2026-01-02"] {
            let rel = format!("{table}/dt={day}/part-00000.parquet");
            let (x, y) = (
                std::fs::read(a.join(&rel)).unwrap(),
                std::fs::read(b.join(&rel)).unwrap(),
            );
            assert!(x == y, "{rel} differs between two runs with the same seed");
            assert_partition_whole(&a.join(format!("{table}/dt={day}")));
        }
    }
    let rel = "watches/dt=2026-01-01/part-00000.parquet";
    assert_ne!(
        std::fs::read(a.join(rel)).unwrap(),
        std::fs::read(c.join(rel)).unwrap()
    );
    let err = run_err(&[
        "validate",
        "--input",
        &s(&a),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-03",
    ]);
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn generated_data_looks_like_a_live_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 3, 3000, 200, 5);
    let day = |t: &str, d: &str| read_dir(&input.join(format!("{t}/dt={d}")));

    // Exposures and watches happen only while the anchor is live.
    let mut sessions: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    for b in day("live_sessions", "2026-01-02") {
        let (l, a) = (col_i64(&b, "live_id"), col_i64(&b, "anchor_id"));
        let (st, en) = (col_i64(&b, "start_ts"), col_i64(&b, "end_ts"));
        for k in 0..b.num_rows() {
            sessions.insert(l[k], (a[k], st[k], en[k]));
        }
    }
    let mut exposures = 0usize;
    for b in day("exposures", "2026-01-02") {
        let (l, a, t) = (
            col_i64(&b, "live_id"),
            col_i64(&b, "anchor_id"),
            col_i64(&b, "ts"),
        );
        for k in 0..b.num_rows() {
            let (anchor, st, en) = sessions[&l[k]];
            assert!(
                anchor == a[k] && st <= t[k] && t[k] < en,
                "exposure outside its live session"
            );
        }
        exposures += b.num_rows();
    }
    let mut durations = Vec::new();
    let mut pairs_day2 = HashSet::new();
    for b in day("watches", "2026-01-02") {
        let (l, a, t, u) = (
            col_i64(&b, "live_id"),
            col_i64(&b, "anchor_id"),
            col_i64(&b, "ts"),
            col_i64(&b, "user_id"),
        );
        let d = col_f64(&b, "duration_s");
        for k in 0..b.num_rows() {
            let (anchor, st, en) = sessions[&l[k]];
            assert!(anchor == a[k] && st <= t[k] && t[k] + (d[k] * 1e6) as i64 <= en + 1);
            durations.push(d[k]);
            if d[k] >= 30.0 {
                pairs_day2.insert((u[k], a[k]));
            }
        }
    }
    let watches = durations.len();
    assert!(
        exposures > 5 * watches,
        "exposures {exposures} vs watches {watches}"
    );
    let bounces = durations.iter().filter(|d| **d < 2.0).count() as f64 / watches as f64;
    let long = durations.iter().filter(|d| **d >= 600.0).count();
    assert!(bounces > 0.25, "bounce share {bounces}");
    assert!(
        long as f64 > 0.01 * watches as f64,
        "no heavy tail: {long} of {watches} watches last 10+ minutes"
    );

    // Repeat consumption: many of day 3's engaged pairs were already engaged on day 2.
    let mut repeat = 0;
    let mut engaged = 0;
    for b in day("watches", "2026-01-03") {
        let (a, u, d) = (
            col_i64(&b, "anchor_id"),
            col_i64(&b, "user_id"),
            col_f64(&b, "duration_s"),
        );
        for k in 0..b.num_rows() {
            if d[k] >= 30.0 {
                engaged += 1;
                repeat += pairs_day2.contains(&(u[k], a[k])) as usize;
            }
        }
    }
    assert!(
        repeat as f64 > 0.1 * engaged as f64,
        "repeat visits {repeat} of {engaged}"
    );

    // Popularity is skewed: the top 10% of anchors get far more than 10% of watches.
    let mut per_anchor: HashMap<i64, usize> = HashMap::new();
    for b in day("watches", "2026-01-02") {
        for a in col_i64(&b, "anchor_id") {
            *per_anchor.entry(a).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = per_anchor.values().copied().collect();
    counts.sort_unstable_by(|x, y| y.cmp(x));
    let top: usize = counts.iter().take(20).sum();
    assert!(
        top as f64 > 0.3 * watches as f64,
        "top anchors have {top} of {watches}"
    );

    // Gifts are rare and concentrated.
    let mut gift_by_user: HashMap<i64, f64> = HashMap::new();
    let mut interactions = 0;
    for d in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        for b in day("interactions", d) {
            let (u, k, v) = (
                col_i64(&b, "user_id"),
                col_str(&b, "kind"),
                col_f64(&b, "value"),
            );
            interactions += b.num_rows();
            for i in 0..b.num_rows() {
                if k[i].as_deref() == Some("gift") {
                    *gift_by_user.entry(u[i]).or_default() += v[i];
                }
            }
        }
    }
    let mut spend: Vec<f64> = gift_by_user.values().copied().collect();
    spend.sort_by(|x, y| y.total_cmp(x));
    let total: f64 = spend.iter().sum();
    let top_share = spend.iter().take(spend.len().div_ceil(5)).sum::<f64>() / total;
    assert!(
        spend.len() >= 5 && spend.len() < 3000 / 5,
        "gifters: {}",
        spend.len()
    );
    assert!(
        top_share > 0.5,
        "top 20% of gifters give {top_share} of coins"
    );
    assert!(interactions > 0);
}

fn heat_rows(output: &Path) -> Vec<(i64, i64, i64, i64)> {
    let mut rows: Vec<_> = read_dir(&output.join("heat/dt=2026-01-01"))
        .iter()
        .flat_map(|b| {
            let (a, v, g, i) = (
                col_i64(b, "anchor_id"),
                col_i64(b, "viewers"),
                col_i64(b, "gifters"),
                col_i64(b, "interactors"),
            );
            (0..b.num_rows())
                .map(move |k| (a[k], v[k], g[k], i[k]))
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn physical_variants_are_accepted_with_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 1, 1000, 80, 3);
    let args = |out: &Path| {
        vec![
            "run".to_string(),
            "heat".into(),
            "--date".into(),
            "2026-01-01".into(),
            "--input".into(),
            s(&input),
            "--output".into(),
            s(out),
        ]
    };
    let canonical = tmp.path().join("out1");
    run_ok(
        &args(&canonical)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    rewrite_with(
        &input.join("watches/dt=2026-01-01"),
        &[
            ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
            ("user_id", DataType::Int32),
            ("anchor_id", DataType::UInt32),
            ("duration_s", DataType::Float32),
        ],
    );
    rewrite_with(
        &input.join("interactions/dt=2026-01-01"),
        &[
            (
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("+08:00".into())),
            ),
            ("kind", DataType::Utf8View),
        ],
    );
    rewrite_with(
        &input.join("anchors/dt=2026-01-01"),
        &[("category", DataType::LargeUtf8)],
    );
    let variant = tmp.path().join("out2");
    run_ok(
        &args(&variant)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let (x, y) = (heat_rows(&canonical), heat_rows(&variant));
    assert!(!x.is_empty());
    assert_eq!(x, y);
}

#[test]
fn contract_violations_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 1, 500, 40, 3);
    let run = || {
        run_err(&[
            "run",
            "heat",
            "--date",
            "2026-01-01",
            "--input",
            &s(&input),
            "--output",
            &s(&output),
        ])
    };
    let dir = input.join("watches/dt=2026-01-01");

    rewrite_with(&dir, &[("user_id", DataType::Utf8)]);
    let err = run();
    assert!(
        err.contains("watches/dt=2026-01-01/part-00000.parquet"),
        "{err}"
    );
    assert!(
        err.contains("`user_id`") && err.contains("INT64") && err.contains("found Utf8"),
        "{err}"
    );
    let err = run_err(&["validate", "--input", &s(&input), "--from", "2026-01-01"]);
    assert!(
        err.contains("`user_id`") && err.contains("found Utf8"),
        "{err}"
    );

    // A renamed column is a missing column.
    generate(&input, 1, 500, 40, 3);
    let batches = read_dir(&dir);
    let renamed: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    let name = if f.name() == "duration_s" {
                        "duration"
                    } else {
                        f.name()
                    };
                    Field::new(name, f.data_type().clone(), true)
                })
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec()).unwrap()
        })
        .collect();
    write_parquet(&dir.join("part-00000.parquet"), &renamed);
    let err = run();
    assert!(
        err.contains("`duration_s`") && err.contains("no such column"),
        "{err}"
    );

    // Empty and truncated files are named too.
    std::fs::write(dir.join("part-00000.parquet"), b"").unwrap();
    let err = run();
    assert!(
        err.contains("part-00000.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(
        !output.join("heat").exists(),
        "no output may be committed from bad input"
    );
}
