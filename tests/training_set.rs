//! Leakage-free training sets: the poison test, an independent recomputation of features,
//! the leakage check catching an edited query, missing days, lineage and downsampling.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{NaiveDate, NaiveTime};
use common::samples::features;
use common::*;
use parquet::arrow::ArrowWriter;

const D: &str = "2026-01-09";

fn micros(day: &str, hour: u32) -> i64 {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap())
        .and_utc()
        .timestamp_micros()
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn write(path: &Path, columns: Vec<(Field, ArrayRef)>) {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ts(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}
fn ints(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}

fn poison_watches(path: &Path, rows: &[(i64, i64, i64)], duration: f64) {
    let n = rows.len();
    write(
        path,
        vec![
            (ts_field("ts"), ts(rows.iter().map(|r| r.0).collect())),
            (
                Field::new("user_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.1).collect()),
            ),
            (
                Field::new("anchor_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.2).collect()),
            ),
            (
                Field::new("live_id", DataType::Int64, false),
                ints(vec![1; n]),
            ),
            (
                Field::new("duration_s", DataType::Float64, false),
                Arc::new(Float64Array::from(vec![duration; n])),
            ),
        ],
    );
}

fn poison_interactions(path: &Path, rows: &[(i64, i64, i64)], kind: &str, value: f64) {
    let n = rows.len();
    write(
        path,
        vec![
            (ts_field("ts"), ts(rows.iter().map(|r| r.0).collect())),
            (
                Field::new("user_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.1).collect()),
            ),
            (
                Field::new("anchor_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.2).collect()),
            ),
            (
                Field::new("live_id", DataType::Int64, true),
                ints(vec![1; n]),
            ),
            (
                Field::new("kind", DataType::Utf8, false),
                Arc::new(StringArray::from(vec![kind; n])),
            ),
            (
                Field::new("value", DataType::Float64, false),
                Arc::new(Float64Array::from(vec![value; n])),
            ),
        ],
    );
}

fn poison_exposures(path: &Path, rows: &[(i64, i64, i64)]) {
    let n = rows.len();
    write(
        path,
        vec![
            (ts_field("ts"), ts(rows.iter().map(|r| r.0).collect())),
            (
                Field::new("user_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.1).collect()),
            ),
            (
                Field::new("anchor_id", DataType::Int64, false),
                ints(rows.iter().map(|r| r.2).collect()),
            ),
            (
                Field::new("live_id", DataType::Int64, false),
                ints(vec![1; n]),
            ),
            (
                Field::new("position", DataType::Int32, true),
                Arc::new(Int32Array::from(vec![1; n])),
            ),
            (
                Field::new("page", DataType::Utf8, true),
                Arc::new(StringArray::from(vec!["home"; n])),
            ),
        ],
    );
}

fn build(input: &Path, output: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "training_set",
        "--date",
        D,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--set",
        "label_days=1",
    ];
    args.extend_from_slice(extra);
    run_ok(&args)
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 10, 1500, 120, 21);
    (tmp, input, output)
}

#[test]
fn poisoning_day_d_and_later_changes_no_feature_of_day_d() {
    let (_tmp, input, output) = setup();
    build(&input, &output, &[]);
    let samples = output.join(format!("samples/dt={D}"));
    let exposures = output.join(format!("exposure_samples/dt={D}"));
    let before = features(&samples);
    let before_expo = features(&exposures);
    assert!(before.len() > 100 && before_expo.len() > before.len());

    let keys: Vec<(i64, i64)> = before.keys().copied().take(300).collect();
    let d_noon = micros(D, 12);
    let later = micros("2026-01-10", 12);
    let rows_at = |t: i64| keys.iter().map(|(u, a)| (t, *u, *a)).collect::<Vec<_>>();
    // Extreme events on day D and after, in their own partitions.
    poison_watches(
        &input.join(format!("watches/dt={D}/poison.parquet")),
        &rows_at(d_noon),
        50_000.0,
    );
    poison_watches(
        &input.join("watches/dt=2026-01-10/poison.parquet"),
        &rows_at(later),
        50_000.0,
    );
    poison_interactions(
        &input.join(format!("interactions/dt={D}/poison.parquet")),
        &rows_at(d_noon),
        "gift",
        1e6,
    );
    poison_exposures(
        &input.join(format!("exposures/dt={D}/poison.parquet")),
        &rows_at(d_noon),
    );
    // Future events misfiled into earlier partitions (late or wrong dt).
    poison_watches(
        &input.join("watches/dt=2026-01-08/poison.parquet"),
        &rows_at(d_noon),
        70_000.0,
    );
    poison_watches(
        &input.join("watches/dt=2026-01-05/poison.parquet"),
        &rows_at(later),
        70_000.0,
    );
    poison_interactions(
        &input.join("interactions/dt=2026-01-08/poison.parquet"),
        &rows_at(d_noon),
        "follow",
        1.0,
    );
    poison_interactions(
        &input.join("interactions/dt=2026-01-07/poison.parquet"),
        &rows_at(later),
        "gift",
        1e6,
    );
    poison_exposures(
        &input.join("exposures/dt=2026-01-08/poison.parquet"),
        &rows_at(later),
    );

    // Misfiled rows up to a day outside their partition pass the data-quality check
    // (ts_tolerance_s), so the feature queries' own `ts < D` guard is what keeps them out;
    // those further out are quarantined (up to 59% of a day's rows: accepted here).
    build(
        &input,
        &output,
        &[
            "--set",
            "force=true",
            "--set",
            "ts_tolerance_s=86400",
            "--set",
            "max_bad_fraction=0.7",
        ],
    );
    for table in [
        "watches/dt=2026-01-05",
        "interactions/dt=2026-01-07",
        "exposures/dt=2026-01-08",
    ] {
        let q = manifest(&output.join("quarantine").join(table));
        assert_eq!(
            q["checks"]["quality"]["quarantined"]["ts:outside_day"], 300,
            "{table}"
        );
    }
    let after = features(&samples);
    let after_expo = features(&exposures);
    let mut compared = 0;
    for (key, values) in &before {
        let now = after
            .get(key)
            .unwrap_or_else(|| panic!("sample {key:?} vanished"));
        assert_eq!(values, now, "features of {key:?} changed by poisoned data");
        compared += 1;
    }
    for (key, values) in &before_expo {
        assert_eq!(
            Some(values),
            after_expo.get(key),
            "exposure features of {key:?} changed"
        );
    }
    assert!(compared > 100);
    // The poison was seen: labels changed and the misfiled rows were counted, not used.
    let m = manifest(&output.join(format!("user_profile/dt={D}")));
    assert_eq!(m["checks"]["leakage.rows_at_or_after_date"], 0);
    assert_eq!(
        m["checks"]["leakage.future_rows_excluded"],
        2 * 300,
        "{}",
        m["checks"]
    );
    // Labels do change: every poisoned pair watched 50,000 s on D is now a positive.
    let mut positives = HashSet::new();
    for b in read_dir(&samples) {
        let (u, a, l) = (
            col_i64(&b, "user_id"),
            col_i64(&b, "anchor_id"),
            col_i64(&b, "label"),
        );
        for r in 0..b.num_rows() {
            if l[r] == 1 {
                positives.insert((u[r], a[r]));
            }
        }
    }
    assert!(
        keys.iter().all(|k| positives.contains(k)),
        "label-day poison not seen"
    );
}

struct Watch {
    dt: NaiveDate,
    ts: i64,
    user: i64,
    anchor: i64,
    dur: f64,
}

fn days(input: &Path, table: &str, from: &str, to: &str) -> Vec<(NaiveDate, RecordBatch)> {
    let (from, to) = (
        NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
        NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap(),
    );
    from.iter_days()
        .take_while(|d| *d <= to)
        .flat_map(|d| {
            read_dir(&input.join(format!("{table}/dt={d}")))
                .into_iter()
                .map(move |b| (d, b))
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn features_match_an_independent_computation() {
    let (_tmp, input, output) = setup();
    build(&input, &output, &[]);
    let day_start = micros(D, 0);
    let watches: Vec<Watch> = days(&input, "watches", "2026-01-02", "2026-01-08")
        .into_iter()
        .flat_map(|(dt, b)| {
            let (t, u, a, d) = (
                col_i64(&b, "ts"),
                col_i64(&b, "user_id"),
                col_i64(&b, "anchor_id"),
                col_f64(&b, "duration_s"),
            );
            (0..b.num_rows())
                .map(move |i| Watch {
                    dt,
                    ts: t[i],
                    user: u[i],
                    anchor: a[i],
                    dur: d[i],
                })
                .collect::<Vec<_>>()
        })
        .filter(|w| w.ts < day_start)
        .collect();
    let mut gifts_by_user: HashMap<i64, f64> = HashMap::new();
    let mut gifts_by_anchor: HashMap<i64, f64> = HashMap::new();
    let mut follows: HashSet<(i64, i64)> = HashSet::new();
    for (_, b) in days(&input, "interactions", "2026-01-02", "2026-01-08") {
        let (t, u, a, k, v) = (
            col_i64(&b, "ts"),
            col_i64(&b, "user_id"),
            col_i64(&b, "anchor_id"),
            col_str(&b, "kind"),
            col_f64(&b, "value"),
        );
        for i in 0..b.num_rows() {
            if t[i] >= day_start {
                continue;
            }
            match k[i].as_deref() {
                Some("gift") => {
                    *gifts_by_user.entry(u[i]).or_default() += v[i];
                    *gifts_by_anchor.entry(a[i]).or_default() += v[i];
                }
                Some("follow") => {
                    follows.insert((u[i], a[i]));
                }
                _ => {}
            }
        }
    }
    let mut expo_by_anchor: HashMap<i64, i64> = HashMap::new();
    for (_, b) in days(&input, "exposures", "2026-01-02", "2026-01-08") {
        for (a, t) in col_i64(&b, "anchor_id").into_iter().zip(col_i64(&b, "ts")) {
            if t < day_start {
                *expo_by_anchor.entry(a).or_default() += 1;
            }
        }
    }
    let mut category: HashMap<i64, String> = HashMap::new();
    for (_, b) in days(&input, "anchors", "2026-01-08", "2026-01-08") {
        for (a, c) in col_i64(&b, "anchor_id")
            .into_iter()
            .zip(col_str(&b, "category"))
        {
            category.insert(a, c.unwrap());
        }
    }

    let mut checked = 0;
    for b in read_dir(&output.join(format!("samples/dt={D}"))) {
        let (u, a) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        let g = |n: &str| col_f64(&b, n);
        let (u_watch_s, u_watch_cnt, u_active_days, u_gift_value) = (
            g("u_watch_s"),
            g("u_watch_cnt"),
            g("u_active_days"),
            g("u_gift_value"),
        );
        let (a_watch_s, a_viewers, a_expo_cnt, a_gift_value) = (
            g("a_watch_s"),
            g("a_viewers"),
            g("a_expo_cnt"),
            g("a_gift_value"),
        );
        let (ua_watch_s, ua_followed, ua_share) =
            (g("ua_watch_s"), g("ua_followed"), g("ua_category_share"));
        for r in (0..b.num_rows()).step_by(7) {
            let (user, anchor) = (u[r], a[r]);
            let mine: Vec<&Watch> = watches.iter().filter(|w| w.user == user).collect();
            let theirs: Vec<&Watch> = watches.iter().filter(|w| w.anchor == anchor).collect();
            let sum = |ws: &[&Watch]| ws.iter().map(|w| w.dur).sum::<f64>();
            assert!(close(u_watch_s[r], sum(&mine)), "u_watch_s of {user}");
            assert_eq!(u_watch_cnt[r], mine.len() as f64);
            assert_eq!(
                u_active_days[r],
                mine.iter().map(|w| w.dt).collect::<HashSet<_>>().len() as f64
            );
            assert!(close(
                u_gift_value[r],
                *gifts_by_user.get(&user).unwrap_or(&0.0)
            ));
            assert!(close(a_watch_s[r], sum(&theirs)), "a_watch_s of {anchor}");
            assert_eq!(
                a_viewers[r],
                theirs.iter().map(|w| w.user).collect::<HashSet<_>>().len() as f64
            );
            assert_eq!(
                a_expo_cnt[r],
                *expo_by_anchor.get(&anchor).unwrap_or(&0) as f64
            );
            assert!(close(
                a_gift_value[r],
                *gifts_by_anchor.get(&anchor).unwrap_or(&0.0)
            ));
            let pair: Vec<&Watch> = mine
                .iter()
                .copied()
                .filter(|w| w.anchor == anchor)
                .collect();
            assert!(close(ua_watch_s[r], sum(&pair)));
            assert_eq!(
                ua_followed[r],
                follows.contains(&(user, anchor)) as i64 as f64
            );
            let cat = category
                .get(&anchor)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            let in_cat: f64 = mine
                .iter()
                .filter(|w| {
                    category
                        .get(&w.anchor)
                        .map(String::as_str)
                        .unwrap_or("unknown")
                        == cat
                })
                .map(|w| w.dur)
                .sum();
            let total = sum(&mine);
            let share = if total > 0.0 { in_cat / total } else { 0.0 };
            assert!(
                close(ua_share[r], share),
                "category share of ({user},{anchor}): {} vs {share}",
                ua_share[r]
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "checked only {checked} samples");
}

#[test]
fn an_edited_query_that_leaks_is_caught_before_commit() {
    let (tmp, input, output) = setup();
    // A copy of the project files whose watches query forgets the ts filter and reads day D.
    let home = tmp.path().join("home");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "jobs",
        "sql/profiles",
        "sql/profiles/reference",
        "sql/samples",
        "sql/checks",
        "sql/heat",
        "sql/quality",
    ] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, home.join(dir).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    // The reference job reads the raw days (the tiles' leakage check is in tests/tiles.rs).
    let profiles = home.join("jobs/profiles_reference.toml");
    let text = std::fs::read_to_string(&profiles).unwrap().replacen(
        "table = \"watches\"\ndays = [\"-profile_days\", -1]",
        "table = \"watches\"\ndays = [\"-profile_days\", 0]",
        1,
    );
    std::fs::write(&profiles, text).unwrap();
    let out = liverec()
        .env("LIVEREC_HOME", &home)
        .args([
            "run",
            "profiles_reference",
            "--date",
            D,
            "--input",
            &s(&input),
            "--output",
            &s(&output),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("features must come from days before it"),
        "{err}"
    );

    // Same window, but the query drops the `ts < $day_start` filter: the check sees it.
    let text = std::fs::read_to_string(&profiles).unwrap().replace(
        "days = [\"-profile_days\", 0]",
        "days = [\"-profile_days\", -1]",
    );
    std::fs::write(&profiles, text).unwrap();
    let q = home.join("sql/profiles/reference/watches_before.sql");
    let leaky = std::fs::read_to_string(&q)
        .unwrap()
        .replace("WHERE w.ts < $day_start", "WHERE w.ts < $day_end");
    std::fs::write(&q, leaky).unwrap();
    poison_watches(
        &input.join("watches/dt=2026-01-08/late.parquet"),
        &[(micros(D, 3), 1, 900_000_000)],
        10.0,
    );
    // Three hours late: past the default tolerance, which would quarantine it.
    let out = liverec()
        .env("LIVEREC_HOME", &home)
        .args([
            "run",
            "profiles_reference",
            "--date",
            D,
            "--input",
            &s(&input),
            "--output",
            &s(&output),
            "--set",
            "ts_tolerance_s=86400",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("check `leakage` failed: rows_at_or_after_date = 1"),
        "{err}"
    );
    assert!(
        !output.join("user_profile").exists(),
        "nothing may be committed by a leaking run"
    );
}

#[test]
fn missing_days_lineage_reuse_and_downsampling() {
    let (_tmp, input, output) = setup();
    let (i, o) = (s(&input), s(&output));
    // A missing profile day fails the run, unless allowed; the manifest records it.
    std::fs::remove_dir_all(input.join("watches/dt=2026-01-05")).unwrap();
    let err = run_err(&[
        "run",
        "profiles_reference",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
    ]);
    assert!(
        err.contains("watches")
            && err.contains("2026-01-05")
            && err.contains("max_missing_days = 0"),
        "{err}"
    );
    run_ok(&[
        "run",
        "profiles_reference",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
        "--set",
        "max_missing_days=1",
    ]);
    let m = manifest(&output.join(format!("user_profile/dt={D}")));
    let w = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["table"] == "watches")
        .unwrap();
    assert_eq!(w["missing"], serde_json::json!(["2026-01-05"]));

    // Samples refuse profiles built with another window.
    let err = run_err(&[
        "run",
        "samples",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
        "--set",
        "profile_days=3",
    ]);
    assert!(
        err.contains("profile_days") && err.contains("rebuild it"),
        "{err}"
    );

    // A missing label day fails a training set unless allowed, and is recorded.
    std::fs::remove_dir_all(input.join("watches/dt=2026-01-08")).unwrap();
    let base = [
        "run",
        "training_set",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
        "--set",
        "label_days=2",
        "--set",
        "profile_days=2",
    ];
    let err = run_err(&base);
    assert!(
        err.contains("2026-01-08") && err.contains("label day(s) missing"),
        "{err}"
    );
    let mut allowed = base.to_vec();
    allowed.extend(["--set", "max_missing_days=1"]);
    run_ok(&allowed);
    let ts = output.join(format!("training_sets/end={D}/manifest.json"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ts).unwrap()).unwrap();
    assert_eq!(m["missing_days"], serde_json::json!(["2026-01-08"]));
    assert_eq!(m["label_days"], serde_json::json!([D]));
    assert_eq!(m["validation_day"], "2026-01-10");
    assert_eq!(m["days"][0]["status"], "built");
    let positives = m["days"][0]["positives"].as_u64().unwrap();
    assert!(positives > 0 && m["positives"].as_u64().unwrap() == positives);
    assert!(
        m["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "ua_category_share")
    );
    // Rerun: the day is reused, not rebuilt.
    run_ok(&allowed);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ts).unwrap()).unwrap();
    assert_eq!(m["days"][0]["status"], "reused");

    // Downsampled exposure negatives: about the rate kept, weight 1/rate, same rows on rerun.
    let expo = output.join(format!("exposure_samples/dt={D}"));
    let negatives = |dir: &Path| -> usize {
        read_dir(dir)
            .iter()
            .flat_map(|b| col_i64(b, "click"))
            .filter(|c| *c == 0)
            .count()
    };
    let all_negatives = negatives(&expo);
    let mut sampled = allowed.clone();
    sampled.extend(["--set", "neg_sample_rate=0.25"]);
    run_ok(&sampled);
    let kept = negatives(&expo);
    let share = kept as f64 / all_negatives as f64;
    assert!(
        (share - 0.25).abs() < 0.05,
        "kept {kept} of {all_negatives} negatives"
    );
    let weights: Vec<f64> = read_dir(&expo)
        .iter()
        .flat_map(|b| col_f64(b, "sample_weight"))
        .collect();
    let clicks: Vec<i64> = read_dir(&expo)
        .iter()
        .flat_map(|b| col_i64(b, "click"))
        .collect();
    for (w, c) in weights.iter().zip(&clicks) {
        assert_eq!(*w, if *c == 1 { 1.0 } else { 4.0 });
    }
    let first_keys: HashSet<_> = features(&expo).into_keys().collect();
    run_ok(&[sampled.as_slice(), &["--set", "force=true"]].concat());
    let second_keys: HashSet<_> = features(&expo).into_keys().collect();
    assert_eq!(first_keys, second_keys, "downsampling is not deterministic");
}
