//! Property test of the data-quality invariants (docs/data-quality.md): random malformed
//! rows injected into the event tables of a training-set build either fail the run with a
//! message naming the table, day and threshold (and commit no samples), or are quarantined
//! exactly — counted by reason — and the samples and profiles equal those built from the
//! clean data. The expected reasons and the pass/fail verdict are computed here,
//! independently of the engine.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::dirty::*;
use common::*;
use proptest::prelude::*;

const TABLES: [&str; 3] = ["watches", "exposures", "interactions"];
const OUTPUTS: [&str; 4] = [
    "samples",
    "exposure_samples",
    "user_profile",
    "anchor_profile",
];

/// One malformed row: which table and day, which defect, built from which existing row.
#[derive(Clone, Debug)]
struct Injection {
    table: usize,
    day: i64,
    defect: usize,
    row: usize,
    hours: i64,
}

fn injection() -> impl Strategy<Value = Injection> {
    (0..3usize, 1..=3i64, 0..13usize, any::<usize>(), 2..=22i64).prop_map(
        |(table, day, defect, row, hours)| Injection {
            table,
            day,
            defect,
            row,
            hours,
        },
    )
}

/// Applies a defect to a copy of an existing row; returns the reason it must get.
fn watch_defect(r: &mut Watch, defect: usize, start: i64, hours: i64) -> &'static str {
    match defect % 13 {
        0 => {
            r.user_id = None;
            "user_id:null"
        }
        1 => {
            r.user_id = Some(-r.user_id.unwrap());
            "user_id:not_positive"
        }
        2 => {
            r.anchor_id = None;
            "anchor_id:null"
        }
        3 => {
            r.live_id = None;
            "live_id:null"
        }
        4 => {
            r.duration_s = None;
            "duration_s:null"
        }
        5 => {
            r.duration_s = Some(f64::NAN);
            "duration_s:nan"
        }
        6 => {
            r.duration_s = Some(-1.0 - hours as f64);
            "duration_s:negative"
        }
        7 => {
            r.duration_s = Some(86_400.5 + hours as f64);
            "duration_s:over_max"
        }
        8 => {
            r.ts = None;
            "ts:null"
        }
        9 => {
            r.ts = Some(start - hours * 3_600_000_000);
            "ts:outside_day"
        }
        10 => {
            r.ts = Some(start + 2_000 * DAY_US);
            "ts:future"
        }
        11 => "row:duplicate",
        _ => {
            r.duration_s = r.duration_s.map(|d| d / 2.0);
            "row:duplicate"
        }
    }
}

fn exposure_defect(r: &mut Exposure, defect: usize, start: i64, hours: i64) -> &'static str {
    match defect % 9 {
        0 => {
            r.user_id = None;
            "user_id:null"
        }
        1 => {
            r.user_id = Some(0);
            "user_id:not_positive"
        }
        2 => {
            r.anchor_id = None;
            "anchor_id:null"
        }
        3 => {
            r.live_id = Some(-7);
            "live_id:not_positive"
        }
        4 => {
            r.position = Some(-1);
            "position:negative"
        }
        5 => {
            r.ts = None;
            "ts:null"
        }
        6 => {
            r.ts = Some(start + DAY_US + hours * 3_600_000_000);
            "ts:outside_day"
        }
        7 => {
            r.ts = Some(start + 2_000 * DAY_US);
            "ts:future"
        }
        _ => "row:duplicate",
    }
}

fn interaction_defect(r: &mut Interaction, defect: usize, start: i64, hours: i64) -> &'static str {
    match defect % 10 {
        0 => {
            r.user_id = None;
            "user_id:null"
        }
        1 => {
            r.anchor_id = Some(-2);
            "anchor_id:not_positive"
        }
        2 => {
            r.kind = None;
            "kind:null"
        }
        3 => {
            r.kind = Some("GIFT".into());
            "kind:unknown"
        }
        4 => {
            r.value = None;
            "value:null"
        }
        5 => {
            r.value = Some(f64::NAN);
            "value:nan"
        }
        6 => {
            r.value = Some(-3.0);
            "value:negative"
        }
        7 => {
            r.ts = Some(start - hours * 3_600_000_000);
            "ts:outside_day"
        }
        8 => {
            r.ts = Some(start + 2_000 * DAY_US);
            "ts:future"
        }
        _ => "row:duplicate",
    }
}

type Expected = BTreeMap<(&'static str, i64), (u64, BTreeMap<String, u64>)>;

/// Writes the injections as one extra file per table and day; returns, per table and day,
/// the clean row count and the expected quarantine by reason.
fn inject(input: &Path, injections: &[Injection]) -> Expected {
    let mut expected: Expected = BTreeMap::new();
    for (t, table) in TABLES.iter().enumerate() {
        for day in 1..=3 {
            let mine: Vec<&Injection> = injections
                .iter()
                .filter(|i| i.table == t && i.day == day)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let dir = input.join(format!("{table}/dt=2026-01-0{day}"));
            let file = dir.join("part-00077.parquet");
            let start = day_start(day);
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            let clean_rows;
            match *table {
                "watches" => {
                    let rows = read_watches(&dir);
                    clean_rows = rows.len();
                    let mut out = Vec::new();
                    for i in &mine {
                        let mut r = rows[i.row % rows.len()].clone();
                        *reasons
                            .entry(watch_defect(&mut r, i.defect, start, i.hours).into())
                            .or_default() += 1;
                        out.push(r);
                    }
                    write_watches(&file, &out);
                }
                "exposures" => {
                    let rows = read_exposures(&dir);
                    clean_rows = rows.len();
                    let mut out = Vec::new();
                    for i in &mine {
                        let mut r = rows[i.row % rows.len()].clone();
                        *reasons
                            .entry(exposure_defect(&mut r, i.defect, start, i.hours).into())
                            .or_default() += 1;
                        out.push(r);
                    }
                    write_exposures(&file, &out);
                }
                _ => {
                    let rows = read_interactions(&dir);
                    clean_rows = rows.len();
                    let mut out = Vec::new();
                    for i in &mine {
                        let mut r = rows[i.row % rows.len()].clone();
                        *reasons
                            .entry(interaction_defect(&mut r, i.defect, start, i.hours).into())
                            .or_default() += 1;
                        out.push(r);
                    }
                    write_interactions(&file, &out);
                }
            }
            expected.insert((table, day), (clean_rows as u64, reasons));
        }
    }
    expected
}

fn build(input: &Path, output: &Path, max_bad_fraction: f64) -> std::process::Output {
    liverec()
        .args([
            "run",
            "training_set",
            "--date",
            "2026-01-03",
            "--input",
            &s(input),
            "--output",
            &s(output),
            "--set",
            "label_days=1",
            "--set",
            "profile_days=2",
            "--set",
            &format!("max_bad_fraction={max_bad_fraction}"),
        ])
        .output()
        .unwrap()
}

#[test]
fn malformed_rows_are_quarantined_exactly_or_fail_the_build_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let reference = tmp.path().join("reference");
    generate(&base, 3, 700, 40, 21);
    let out = build(&base, &reference, 0.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = all_rows(&reference, &OUTPUTS);

    // Every defect of every table once, then random mixes.
    let every: Vec<Injection> = (0..3)
        .flat_map(|table| {
            (0..[13, 9, 10][table]).map(move |defect| Injection {
                table,
                day: 1 + (defect as i64 % 3),
                defect,
                row: defect * 7,
                hours: 2 + defect as i64,
            })
        })
        .collect();
    check_case(tmp.path(), &base, &want, "every", &every, 0.5).unwrap();

    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let case = std::sync::atomic::AtomicUsize::new(0);
    proptest!(config, |(
        injections in prop::collection::vec(injection(), 1..10),
        max_bad_fraction in prop::sample::select(vec![0.0, 0.02, 0.5, 0.5]),
    )| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check_case(tmp.path(), &base, &want, &n.to_string(), &injections, max_bad_fraction)?;
    });
}

type Rows = Vec<(String, Vec<String>)>;

/// One case: inject, build, check the invariants.
fn check_case(
    tmp: &Path,
    base: &Path,
    want: &Rows,
    name: &str,
    injections: &[Injection],
    max_bad_fraction: f64,
) -> Result<(), TestCaseError> {
    let dir = tmp.join(format!("case-{name}"));
    let input = dir.join("in");
    let output = dir.join("out");
    copy_tree(base, &input);
    let expected = inject(&input, injections);
    let failing: Vec<String> = expected
        .iter()
        .filter(|(_, (clean, reasons))| {
            let bad: u64 = reasons.values().sum();
            bad as f64 > max_bad_fraction * (clean + bad) as f64
        })
        .map(|((t, d), _)| format!("data quality: {t}/dt=2026-01-0{d}"))
        .collect();

    let out = build(&input, &output, max_bad_fraction);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    prop_assert!(!stderr.contains("panicked"), "{}", stderr);
    if failing.is_empty() {
        prop_assert!(out.status.success(), "expected success: {}", stderr);
        prop_assert_eq!(&all_rows(&output, &OUTPUTS), want);
        for ((table, day), (_, reasons)) in &expected {
            let m = manifest(&output.join(format!("quarantine/{table}/dt=2026-01-0{day}")));
            prop_assert_eq!(&quarantined(&m), reasons, "{} day {}", table, day);
        }
    } else {
        prop_assert!(!out.status.success(), "expected failure for {:?}", failing);
        prop_assert!(
            failing.iter().any(|f| stderr.contains(f.as_str())),
            "{} does not name one of {:?}",
            stderr,
            failing
        );
        prop_assert!(stderr.contains("more than max_bad_fraction"), "{}", stderr);
        prop_assert!(!output.join("samples/dt=2026-01-03").exists());
        for table in OUTPUTS {
            let part = output.join(table).join("dt=2026-01-03");
            if part.exists() {
                assert_partition_whole(&part);
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}
