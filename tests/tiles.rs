//! Daily tiles: profiles merged from tiles equal the reference profiles computed from the raw
//! days (`profiles_reference`, sql/profiles/reference/) row for row — on data with
//! quarantined rows, events filed late or early within the tolerance, and a missing input
//! day; a wrong merge rule (a sum where a distinct count belongs) is caught by the same
//! comparison; item-CF's likes summed from tiles equal the raw-row likes; a daily run builds
//! one new tile day; a rewritten input day rebuilds its tiles; a job reading tiles builds the
//! days it lacks; label days built two or three at once, with tiles built beside the first,
//! equal those built one at a time, and a tile day that fails commits no later label day.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::dirty::{Watch, day_start, read_watches, write_watches};
use common::samples::{assert_sorted_by_pair, features};
use common::*;

const PROFILE_TABLES: &[&str] = &[
    "user_profile",
    "anchor_profile",
    "user_anchor_profile",
    "user_category_profile",
];
const LAST: &str = "2026-01-12";
const LABEL_DAYS: [&str; 3] = ["2026-01-10", "2026-01-11", "2026-01-12"];

/// Generated days 01-01 .. 01-13 with dirt: null and negative rows (quarantined), watches
/// filed in the partition before or after their ts day (tolerated: 20 minutes outside), and
/// no watches at all on 01-06.
fn dirty_input(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    generate(&input, 13, 4000, 150, 31);
    for day in [4_i64, 8, 10] {
        let part = input.join(format!("watches/dt=2026-01-{day:02}"));
        let rows = read_watches(&part);
        let mut extra: Vec<Watch> = Vec::new();
        for (i, w) in rows.iter().take(24).enumerate() {
            let mut w = w.clone();
            match i % 4 {
                0 => w.user_id = None,
                1 => w.duration_s = Some(-5.0),
                // Filed late: the next day's first 20 minutes.
                2 => w.ts = Some(day_start(day + 1) + 20 * 60_000_000),
                // Filed early: the previous day's last 20 minutes.
                _ => w.ts = Some(day_start(day) - 20 * 60_000_000),
            }
            extra.push(w);
        }
        write_watches(&part.join("dirt.parquet"), &extra);
    }
    // A watch of the last label day filed into the day before it (tolerated): the tiles of
    // 01-11 hold it with ts_day 01-12, which profiles of 01-12 must leave out.
    let part = input.join("watches/dt=2026-01-11");
    let mut late = read_watches(&part)[0].clone();
    late.ts = Some(day_start(12) + 10 * 60_000_000);
    late.duration_s = Some(5000.0);
    write_watches(&part.join("late.parquet"), &[late]);
    std::fs::remove_dir_all(input.join("watches/dt=2026-01-06")).unwrap();
    input
}

fn training_set(input: &Path, output: &Path, date: &str, extra: &[&str]) -> serde_json::Value {
    let report = output.with_extension("report.json");
    let (i, o, r) = (s(input), s(output), s(&report));
    let mut args = vec!["run", "training_set", "--date", date, "--input", &i];
    args.extend(["--output", &o, "--report-json", &r]);
    args.extend(["--set", "label_days=3", "--set", "profile_days=5"]);
    args.extend(["--set", "max_missing_days=1"]);
    args.extend(extra);
    run_ok(&args);
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

fn reference(input: &Path, output: &Path, home: Option<&Path>) {
    for day in LABEL_DAYS {
        let mut cmd = liverec();
        if let Some(home) = home {
            cmd.env("LIVEREC_HOME", home);
        }
        output_ok(cmd.args([
            "run",
            "profiles_reference",
            "--date",
            day,
            "--input",
            &s(input),
            "--output",
            &s(output),
            "--set",
            "profile_days=5",
            "--set",
            "max_missing_days=1",
        ]));
    }
}

/// Tile days a run's report says it wrote, per tile table.
fn tiles_written(report: &serde_json::Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for o in report["outputs"].as_array().unwrap() {
        let table = o["table"].as_str().unwrap();
        if table.starts_with("tile_") {
            *out.entry(table.to_string()).or_default() += 1;
        }
    }
    out
}

#[test]
fn profiles_from_tiles_equal_the_reference_and_each_day_is_tiled_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dirty_input(tmp.path());
    let (tiled, raw) = (tmp.path().join("tiled"), tmp.path().join("raw"));
    let report = training_set(&input, &tiled, LAST, &[]);
    // Windows 01-05 .. 01-11: seven tile days, each built once for three label days.
    assert_eq!(tiles_written(&report)["tile_watches"], 7, "{report}");
    reference(&input, &raw, None);
    let (a, b) = (
        all_rows(&tiled, PROFILE_TABLES),
        all_rows(&raw, PROFILE_TABLES),
    );
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert!(x.len() > 100, "{table}: {} rows", x.len());
        assert_eq!(x, y, "{table} differs from the reference");
    }
    // The dirt was there: quarantined rows, a missing day, late rows left out.
    let m = manifest(&tiled.join("user_profile/dt=2026-01-12"));
    assert!(
        m["checks"]["leakage.future_rows_excluded"]
            .as_i64()
            .unwrap()
            >= 1
    );
    assert!(m["checks"]["leakage.misfiled_rows"].as_i64().unwrap() >= 12);
    let m = manifest(&tiled.join("user_profile/dt=2026-01-10"));
    let tiles = m["inputs"].as_array().unwrap();
    let watches = tiles.iter().find(|i| i["table"] == "tile_watches").unwrap();
    // The day without watches has an empty watch tile, which counts as a missing day.
    assert_eq!(watches["empty"], serde_json::json!(["2026-01-06"]), "{m}");
    // Pairs are watched on several days, so a per-day count summed over the window would
    // not be the distinct count.
    let mut days_per_pair: HashMap<(i64, i64), usize> = HashMap::new();
    for b in read_dir(&tiled.join("tile_watches/dt=2026-01-07"))
        .into_iter()
        .chain(read_dir(&tiled.join("tile_watches/dt=2026-01-08")))
    {
        let (u, an) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        for r in 0..b.num_rows() {
            *days_per_pair.entry((u[r], an[r])).or_default() += 1;
        }
    }
    assert!(days_per_pair.values().filter(|n| **n > 1).count() > 50);

    // The next day: one new tile day, the others reused.
    let report = training_set(&input, &tiled, "2026-01-13", &[]);
    assert_eq!(tiles_written(&report)["tile_watches"], 1, "{report}");
    // An input day rewritten (late data) rebuilds that day's tiles only.
    let run_of =
        |day: &str| manifest(&tiled.join(format!("tile_watches/dt={day}")))["run_id"].clone();
    let (before_08, before_09) = (run_of("2026-01-08"), run_of("2026-01-09"));
    let part = input.join("watches/dt=2026-01-09");
    let mut more = read_watches(&part)[..5].to_vec();
    for w in &mut more {
        w.duration_s = Some(77.0);
    }
    write_watches(&part.join("late-arrival.parquet"), &more);
    let report = training_set(&input, &tiled, "2026-01-13", &[]);
    assert_eq!(tiles_written(&report)["tile_watches"], 1, "{report}");
    assert_eq!(run_of("2026-01-08"), before_08);
    assert_ne!(run_of("2026-01-09"), before_09);
}

#[test]
fn likes_and_standalone_profiles_from_tiles_equal_their_references() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dirty_input(tmp.path());
    let (tiled, raw) = (tmp.path().join("tiled"), tmp.path().join("raw"));
    let (i, t, r) = (s(&input), s(&tiled), s(&raw));
    // Item-CF's likes (as als_likes writes them) from tiles the job builds on demand, and
    // from the raw watches; the window has quarantined, late and early rows.
    let set = ["--set", "window_days=6", "--set", "like_threshold_s=20"];
    let mut args = vec![
        "run",
        "als_likes",
        "--date",
        LAST,
        "--input",
        &i,
        "--output",
        &t,
    ];
    args.extend(set);
    run_ok(&args);
    let mut args = vec!["run", "likes_reference", "--date", LAST, "--input", &i];
    args.extend(["--output", &r]);
    args.extend(set);
    run_ok(&args);
    let (a, b) = (
        all_rows(&tiled, &["als_likes"]),
        all_rows(&raw, &["likes_reference"]),
    );
    assert!(a[0].1.len() > 1000, "{} likes", a[0].1.len());
    assert_eq!(
        a[0].1, b[0].1,
        "likes from tiles differ from the raw-row likes"
    );
    // Six tile days were built for it, by the tiles job.
    let built = std::fs::read_dir(tiled.join("tile_watches"))
        .unwrap()
        .count();
    assert_eq!(built, 6);

    // `profiles` on its own builds the tile days its window still lacks.
    let mut args = vec![
        "run", "profiles", "--date", LAST, "--input", &i, "--output", &t,
    ];
    args.extend(["--set", "profile_days=5"]);
    run_ok(&args);
    reference(&input, &raw, None);
    let (a, b) = (
        all_rows(&tiled, &["user_profile", "user_anchor_profile"]),
        all_rows(&raw, &["user_profile", "user_anchor_profile"]),
    );
    let keep = |rows: &[String]| -> Vec<String> {
        let day = format!("dt={LAST}|");
        rows.iter()
            .filter(|r| r.starts_with(&day))
            .cloned()
            .collect()
    };
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert!(!keep(x).is_empty(), "{table}");
        assert_eq!(keep(x), keep(y), "{table}");
    }

    // A training set whose label day has these profiles (the workflow's profiles_next_day
    // commits them the night before) reuses them and builds only the samples; profiles of
    // other parameters are rebuilt, and the samples with them.
    let profile_run =
        |t: &Path| manifest(&t.join(format!("user_profile/dt={LAST}")))["run_id"].clone();
    let samples_run = |t: &Path| manifest(&t.join(format!("samples/dt={LAST}")))["run_id"].clone();
    let one_day_set = |profile_days: &str| -> Vec<String> {
        let report = tmp.path().join("one-day.report.json");
        let mut args = vec!["run", "training_set", "--date", LAST, "--input", &i];
        args.extend(["--output", &t, "--report-json", report.to_str().unwrap()]);
        args.extend(["--set", "label_days=1", "--set", profile_days]);
        run_ok(&args);
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        report["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                o["location"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("dt={LAST}"))
            })
            .map(|o| o["table"].as_str().unwrap().to_string())
            .collect()
    };
    let committed = profile_run(&tiled);
    let written = one_day_set("profile_days=5");
    assert_eq!(profile_run(&tiled), committed, "profiles were rebuilt");
    assert!(written.contains(&"samples".to_string()), "{written:?}");
    assert!(
        !written.iter().any(|t| t.ends_with("_profile")),
        "{written:?}"
    );
    let samples = samples_run(&tiled);
    let written = one_day_set("profile_days=4");
    assert_ne!(profile_run(&tiled), committed);
    assert_ne!(samples_run(&tiled), samples);
    for table in PROFILE_TABLES
        .iter()
        .chain(&["samples", "exposure_samples"])
    {
        assert!(written.contains(&table.to_string()), "{table}: {written:?}");
    }

    // Late data: a rewritten input day of the window rebuilds its tile day and then the
    // profiles and samples that read it; a rewritten label day only its samples. The new
    // file keeps the old one's modification time, earlier than the commits that read it (as
    // a writer whose clock runs behind would leave it): currency compares what the
    // partitions hold, not clocks.
    let rewrite = |day: &str| {
        let dir = input.join(format!("watches/dt={day}"));
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "parquet"))
            .unwrap();
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let fresh = dir.join("rewrite.tmp");
        std::fs::write(&fresh, std::fs::read(&file).unwrap()).unwrap();
        let f = std::fs::File::options().write(true).open(&fresh).unwrap();
        f.set_modified(modified).unwrap();
        drop(f);
        std::fs::rename(&fresh, &file).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            modified
        );
    };
    // Back to N = 5 (rebuilt for its parameters), then the rewrite.
    one_day_set("profile_days=5");
    let (profiles, samples) = (profile_run(&tiled), samples_run(&tiled));
    rewrite("2026-01-09");
    one_day_set("profile_days=5");
    assert_ne!(
        profile_run(&tiled),
        profiles,
        "profiles of a rebuilt tile day kept"
    );
    assert_ne!(samples_run(&tiled), samples);
    let (profiles, samples) = (profile_run(&tiled), samples_run(&tiled));
    rewrite(LAST);
    one_day_set("profile_days=5");
    assert_eq!(profile_run(&tiled), profiles);
    assert_ne!(
        samples_run(&tiled),
        samples,
        "samples of a rewritten day kept"
    );
}

/// A 70-day window: active days past the 64th day live in the second mask word
/// (watch_pairs_before.sql); users and anchors active on days of both words count right.
#[test]
fn a_window_longer_than_64_days_equals_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 72, 300, 20, 5);
    let (tiled, raw) = (tmp.path().join("tiled"), tmp.path().join("raw"));
    let (i, date) = (s(&input), "2026-03-12");
    for (job, out) in [("profiles", &tiled), ("profiles_reference", &raw)] {
        let o = s(out);
        let args = ["run", job, "--date", date, "--input", &i, "--output", &o];
        run_ok(&[&args[..], &["--set", "profile_days=70"]].concat());
    }
    let (a, b) = (
        all_rows(&tiled, PROFILE_TABLES),
        all_rows(&raw, PROFILE_TABLES),
    );
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert!(!x.is_empty(), "{table}");
        assert_eq!(x, y, "{table} differs from the reference");
    }
    // Some anchor was active on more than 64 of the 70 days.
    let rows = read_dir(&tiled.join(format!("anchor_profile/dt={date}")));
    let most = rows
        .iter()
        .flat_map(|b| col_i64(b, "a_active_days"))
        .max()
        .unwrap();
    assert!(most > 64, "at most {most} active days");
    // A tile day's latest watches are each (user, day)'s 5 latest (ts desc, anchor asc) of
    // the day's watches, duplicates removed as the quality layer does, with their own ts.
    let day = "2026-03-11";
    type Row = (i64, i64, i64, i64, i64, u64);
    let mut watches: Vec<Row> = read_watches(&input.join(format!("watches/dt={day}")))
        .into_iter()
        .filter(|w| w.duration_s.unwrap() >= 0.0)
        .map(|w| {
            let (ts, user, anchor) = (w.ts.unwrap(), w.user_id.unwrap(), w.anchor_id.unwrap());
            let rest = (w.live_id.unwrap(), w.duration_s.unwrap().to_bits());
            (
                user,
                ts.div_euclid(86_400_000_000),
                -ts,
                anchor,
                rest.0,
                rest.1,
            )
        })
        .collect();
    watches.sort_unstable();
    watches.dedup();
    let mut expected: Vec<(i64, i64, i64, i64)> = Vec::new();
    for w in &watches {
        let same_day = expected
            .iter()
            .rev()
            .take_while(|e| (e.0, e.1) == (w.0, w.1))
            .count();
        if same_day < 5 {
            expected.push((w.0, w.1, -w.2, w.3));
        }
    }
    let mut from_tile: Vec<(i64, i64, i64, i64)> = Vec::new();
    for b in read_dir(&tiled.join(format!("tile_last_watches/dt={day}"))) {
        let (u, d) = (col_i64(&b, "user_id"), col_i64(&b, "ts_day"));
        let (t, a) = (col_i64(&b, "ts"), col_i64(&b, "anchor_id"));
        from_tile.extend((0..b.num_rows()).map(|r| (u[r], d[r], t[r], a[r])));
    }
    assert!(expected.len() > 100 && expected.len() < watches.len());
    assert_eq!(from_tile, expected, "tile_last_watches of {day}");
}

#[test]
fn a_wrong_merge_rule_is_caught_by_the_reference_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let input = dirty_input(tmp.path());
    // A copy of the project whose merged active days add each viewer's days up instead of
    // OR-ing their day masks (an anchor watched by several users on one day counts it once).
    let home = tmp.path().join("home");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_project(root, &home);
    let q = home.join("sql/profiles/anchor_profile.sql");
    let text = std::fs::read_to_string(&q).unwrap();
    let wrong = text.replace(
        "bit_count(bit_or(days_lo)) + bit_count(bit_or(days_hi)) AS a_active_days",
        "SUM(bit_count(days_lo) + bit_count(days_hi)) AS a_active_days",
    );
    assert_ne!(text, wrong);
    std::fs::write(&q, wrong).unwrap();
    let (tiled, raw) = (tmp.path().join("tiled"), tmp.path().join("raw"));
    let (i, o) = (s(&input), s(&tiled));
    output_ok(liverec().env("LIVEREC_HOME", &home).args([
        "run",
        "training_set",
        "--date",
        LAST,
        "--input",
        &i,
        "--output",
        &o,
        "--set",
        "label_days=3",
        "--set",
        "profile_days=5",
        "--set",
        "max_missing_days=1",
    ]));
    reference(&input, &raw, Some(&home));
    let (a, b) = (
        all_rows(&tiled, &["anchor_profile"]),
        all_rows(&raw, &["anchor_profile"]),
    );
    assert_ne!(a, b, "summed active days went unnoticed");
    let (a, b) = (
        all_rows(&tiled, &["user_profile"]),
        all_rows(&raw, &["user_profile"]),
    );
    assert_eq!(a, b, "the other tables still agree");
}

/// The project files (`jobs/`, `sql/`, `workflows/`) under `home`.
fn copy_project(root: &Path, home: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                copy(&p, &to.join(p.file_name().unwrap()));
            } else {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    for dir in ["jobs", "sql", "workflows"] {
        copy(&root.join(dir), &home.join(dir));
    }
}

/// The last label day of the parallel-build test.
const END: &str = "2026-01-09";

#[test]
fn label_days_built_in_parallel_equal_one_at_a_time_and_a_failed_tile_day_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 10, 1500, 120, 21);
    let serial = tmp.path().join("serial");
    let run = |out: &Path, parallel: &str| -> Vec<String> {
        [
            "run",
            "training_set",
            "--date",
            END,
            "--input",
            &s(&input),
            "--output",
            &s(out),
            "--set",
            "label_days=3",
            "--set",
            "profile_days=2",
            "--set",
            &format!("parallel_days={parallel}"),
        ]
        .map(String::from)
        .to_vec()
    };
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let set = |out: &Path| -> serde_json::Value {
        let text =
            std::fs::read_to_string(out.join(format!("training_sets/end={END}/manifest.json")))
                .unwrap();
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::json!([m["label_days"], m["rows"], m["positives"], m["features"]])
    };
    run_ok(&argv(&run(&serial, "1")));
    // Three at once; and two, where the first label day runs beside the tiles of the later
    // windows (2026-01-07 and -08) and the other two follow in a pair.
    let pair = tmp.path().join("pair");
    for (out, parallel) in [(&output, "3"), (&pair, "2")] {
        run_ok(&argv(&run(out, parallel)));
        for table in ["samples", "exposure_samples"] {
            for day in ["2026-01-07", "2026-01-08", END] {
                let (a, b) = (
                    features(&serial.join(format!("{table}/dt={day}"))),
                    features(&out.join(format!("{table}/dt={day}"))),
                );
                assert!(!a.is_empty(), "{table} {day} is empty");
                assert_eq!(a, b, "{table} {day}: parallel build ({parallel}) differs");
                // One partition per query: the order comes from the sorted pairs, not a sort.
                assert_sorted_by_pair(&out.join(format!("{table}/dt={day}")));
            }
        }
        assert_eq!(set(&serial), set(out), "parallel_days={parallel}");
    }

    // Exposures of 2026-01-05, which only the first label day's profiles read, are
    // unreadable: the run fails naming them while building that day's tiles (before any
    // label day starts), commits no tile of that day and no label day, and writes no
    // training-set manifest.
    let fresh = tmp.path().join("fresh");
    let bad = input.join("exposures/dt=2026-01-05/part-00000.parquet");
    let original = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, b"not a parquet file").unwrap();
    let err = run_err(&argv(&run(&fresh, "3")));
    assert!(
        err.contains("exposures") && err.contains("2026-01-05") && err.contains("tiles"),
        "{err}"
    );
    for table in ["tile_watches", "tile_user_exposures"] {
        assert!(!fresh.join(format!("{table}/dt=2026-01-05")).exists());
    }
    for table in ["samples", "exposure_samples", "user_profile"] {
        assert!(!fresh.join(table).exists(), "{table}");
    }
    assert!(!fresh.join("training_sets").exists());

    // Two at once, the input of 2026-01-08 unreadable: its tile day is built beside the
    // first label day and fails; no later label day starts and no manifest is written.
    std::fs::write(&bad, original).unwrap();
    let later = tmp.path().join("later");
    let bad_later = input.join("exposures/dt=2026-01-08/part-00000.parquet");
    std::fs::write(&bad_later, b"not a parquet file").unwrap();
    let err = run_err(&argv(&run(&later, "2")));
    assert!(err.contains("2026-01-08") && err.contains("tiles"), "{err}");
    assert!(!later.join("tile_user_exposures/dt=2026-01-08").exists());
    for day in ["2026-01-08", END] {
        assert!(!later.join(format!("samples/dt={day}")).exists(), "{day}");
    }
    assert!(!later.join("training_sets").exists());
}
