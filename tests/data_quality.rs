//! Bad input and faults (docs/data-quality.md): dirty rows are quarantined by reason and the
//! jobs compute exactly what they compute from the clean rows; too many bad rows, unreadable
//! files, missing or empty days and unwritable outputs are named errors; a full disk leaves
//! nothing half-committed and the rerun succeeds.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::dirty::*;
use common::*;

const D: &str = "2026-01-02";

fn heat(input: &Path, output: &Path, extra: &[&str]) -> Result<String, String> {
    job("heat", input, output, extra)
}

/// Runs `liverec run JOB --date D` on the real binary; Err(stderr) on failure (never a panic).
fn job(name: &str, input: &Path, output: &Path, extra: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "run",
        name,
        "--date",
        D,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = liverec().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(stderr)
    }
}

/// Adds one dirty file to day D of watches and interactions; returns the reasons expected.
fn add_dirty_rows(input: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let wdir = input.join(format!("watches/dt={D}"));
    let w = read_watches(&wdir);
    let base = w[7].clone();
    let start = day_start(2);
    let with = |f: &dyn Fn(&mut Watch)| {
        let mut r = base.clone();
        f(&mut r);
        r
    };
    let rows = vec![
        with(&|r| r.user_id = None),
        with(&|r| r.user_id = Some(-3)),
        with(&|r| r.anchor_id = Some(0)),
        with(&|r| r.live_id = None),
        with(&|r| r.duration_s = None),
        with(&|r| r.duration_s = Some(f64::NAN)),
        with(&|r| r.duration_s = Some(-5.0)),
        with(&|r| r.duration_s = Some(90_000.0)),
        with(&|r| r.ts = None),
        // Misfiled: 3 h before the day (beyond the 1 h tolerance), and in the future.
        with(&|r| r.ts = Some(start - 3 * 3_600_000_000)),
        with(&|r| r.ts = Some(start + 3_000 * DAY_US)),
        // Kept: 30 min before the day, an existing viewer of the same anchor (heat unchanged).
        with(&|r| r.ts = Some(start - 1_800_000_000)),
        // The same rows twice, and a re-sent viewing with a shorter duration.
        w[1].clone(),
        w[2].clone(),
        w[2].clone(),
        with(&|r| r.duration_s = Some(r.duration_s.unwrap() / 2.0)),
    ];
    write_watches(&wdir.join("part-00001.parquet"), &rows);
    let watches: BTreeMap<String, u64> = [
        ("user_id:null", 1),
        ("user_id:not_positive", 1),
        ("anchor_id:not_positive", 1),
        ("live_id:null", 1),
        ("duration_s:null", 1),
        ("duration_s:nan", 1),
        ("duration_s:negative", 1),
        ("duration_s:over_max", 1),
        ("ts:null", 1),
        ("ts:outside_day", 1),
        ("ts:future", 1),
        ("row:duplicate", 4),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    let idir = input.join(format!("interactions/dt={D}"));
    let i = read_interactions(&idir);
    let gift = i
        .iter()
        .find(|r| r.kind.as_deref() == Some("gift"))
        .unwrap()
        .clone();
    let mut unknown = i[0].clone();
    unknown.kind = Some("superlike".into());
    let mut null_value = gift.clone();
    null_value.value = None;
    let mut null_kind = i[0].clone();
    null_kind.kind = None;
    write_interactions(
        &idir.join("part-00001.parquet"),
        &[unknown, null_value, null_kind, gift],
    );
    let interactions: BTreeMap<String, u64> = [
        ("kind:unknown", 1),
        ("value:null", 1),
        ("kind:null", 1),
        ("row:duplicate", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    (watches, interactions)
}

#[test]
fn dirty_rows_are_quarantined_by_reason_and_jobs_read_only_the_clean_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    let dirty = tmp.path().join("dirty");
    generate(&clean, 2, 600, 40, 5);
    copy_tree(&clean, &dirty);
    let (want_w, want_i) = add_dirty_rows(&dirty);
    let clean_rows = read_watches(&clean.join(format!("watches/dt={D}"))).len() as u64;

    let out_clean = tmp.path().join("out_clean");
    let out_dirty = tmp.path().join("out_dirty");
    heat(&clean, &out_clean, &[]).unwrap();

    // 15 bad watches of ~170 is more than the default 1%: a named failure, nothing written.
    let err = heat(&dirty, &out_dirty, &[]).unwrap_err();
    assert!(err.contains("data quality: watches/dt=2026-01-02"), "{err}");
    assert!(err.contains("more than max_bad_fraction = 0.01"), "{err}");
    assert!(
        err.contains("rule `nan` of column `duration_s`")
            && err.contains("watches/dt=2026-01-02/part-00001.parquet"),
        "{err}"
    );
    assert!(!out_dirty.join("heat").exists());
    // The failed check is recorded with its sample, for whoever investigates.
    let q = assert_partition_whole(&out_dirty.join(format!("quarantine/watches/dt={D}")));
    assert_eq!(quarantined(&q), want_w);
    assert_eq!(q["checks"]["quality"]["failed"], true);

    // Accepting up to 20% quarantines and counts them; heat equals heat of the clean data.
    let out = output_ok(
        liverec()
            .args([
                "run",
                "heat",
                "--date",
                D,
                "--input",
                &s(&dirty),
                "--output",
                &s(&out_dirty),
                "--set",
                "max_bad_fraction=0.2",
            ])
            .env("LIVEREC_LOG", "info"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("quarantined 15 of")
            && stderr.contains("rule `nan` of column `duration_s`"),
        "the run log counts the quarantine: {stderr}"
    );
    assert_eq!(
        all_rows(&out_dirty, &["heat"]),
        all_rows(&out_clean, &["heat"])
    );

    let m = manifest(&out_dirty.join(format!("heat/dt={D}")));
    let inputs = m["inputs"].as_array().unwrap();
    let quality = |t: &str| inputs.iter().find(|i| i["table"] == t).unwrap()["quality"].clone();
    let counts = |v: &serde_json::Value| -> BTreeMap<String, u64> {
        v["quarantined"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect()
    };
    assert_eq!(counts(&quality("watches")), want_w);
    assert_eq!(counts(&quality("interactions")), want_i);
    assert_eq!(quality("watches")["rows"], clean_rows + 16);
    assert_eq!(
        quality("watches")["tolerated"]["ts:outside_day_tolerated"],
        1
    );
    assert_eq!(quality("watches")["cleaned_days"][0], D);
    assert_eq!(quality("anchors")["quarantined"], serde_json::json!({}));

    // The sample holds the bad rows with their reason and file; the cleaned copy the rest.
    let qdir = out_dirty.join(format!("quarantine/watches/dt={D}"));
    let q = assert_partition_whole(&qdir);
    assert_eq!(q["rows"], 15);
    assert_eq!(q["params"]["max_bad_fraction"], 0.2);
    let sample = read_dir(&qdir);
    let files: Vec<_> = sample.iter().flat_map(|b| col_str(b, "_file")).collect();
    assert!(
        files
            .iter()
            .all(|f| f.as_deref() == Some("part-00001.parquet"))
    );
    let cleaned = assert_partition_whole(&out_dirty.join(format!("cleaned/watches/dt={D}")));
    // The 16 rows added, less 15 quarantined: the tolerated one is kept.
    assert_eq!(cleaned["rows"], clean_rows + 1);

    // Ad-hoc SQL sees the quarantine as a table.
    let csv = run_ok(&[
        "sql",
        "--input",
        &s(&dirty),
        "--output",
        &s(&out_dirty),
        "--format",
        "csv",
        "-e",
        "SELECT reason, COUNT(*) AS n FROM quarantine_watches GROUP BY reason ORDER BY reason",
    ]);
    assert!(csv.contains("row:duplicate,4"), "{csv}");
    assert!(csv.contains("duration_s:nan,1"), "{csv}");

    // A quarantine sample of 2 rows per reason keeps 2 of the 4 duplicates, counts all.
    let small = tmp.path().join("out_small");
    heat(
        &dirty,
        &small,
        &[
            "--set",
            "max_bad_fraction=0.2",
            "--set",
            "quarantine_sample_rows=2",
        ],
    )
    .unwrap();
    let q = assert_partition_whole(&small.join(format!("quarantine/watches/dt={D}")));
    assert_eq!(q["rows"], 13);
    assert_eq!(quarantined(&q)["row:duplicate"], 4);
}

#[test]
fn each_day_is_checked_once_and_rechecked_when_its_files_change() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 2, 500, 40, 8);
    job("quality", &input, &output, &[]).unwrap();
    let qdir = output.join(format!("quarantine/watches/dt={D}"));
    let first = manifest(&qdir)["run_id"].clone();
    heat(&input, &output, &[]).unwrap();
    assert_eq!(manifest(&qdir)["run_id"], first, "heat reused the check");

    // A file added to the day: checked again, and its bad rows quarantined.
    let wdir = input.join(format!("watches/dt={D}"));
    let mut w = read_watches(&wdir)[0].clone();
    w.user_id = None;
    write_watches(&wdir.join("part-00009.parquet"), &[w]);
    heat(&input, &output, &["--set", "max_bad_fraction=0.5"]).unwrap();
    let m = manifest(&qdir);
    assert_ne!(m["run_id"], first);
    assert_eq!(quarantined(&m)["user_id:null"], 1);
}

#[test]
fn unreadable_files_and_schema_drift_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 2, 500, 40, 9);
    let wdir = input.join(format!("watches/dt={D}"));
    let file = wdir.join("part-00000.parquet");
    let original = std::fs::read(&file).unwrap();

    // Truncated: the footer is gone.
    std::fs::write(&file, &original[..original.len() / 2]).unwrap();
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(
        err.contains("part-00000.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    // Another format with a .parquet suffix.
    std::fs::write(&file, b"ts,user_id,anchor_id\n2026-01-02,1,2\n").unwrap();
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(
        err.contains("part-00000.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    // Corrupt data pages under an intact footer.
    let mut corrupt = original.clone();
    for b in &mut corrupt[8..original.len() / 2] {
        *b = 0xAB;
    }
    std::fs::write(&file, &corrupt).unwrap();
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(
        err.contains("part-00000.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(!output.join("heat").exists());

    // An extra column is fine, and changes nothing.
    std::fs::write(&file, &original).unwrap();
    let reference = tmp.path().join("ref");
    heat(&input, &reference, &[]).unwrap();
    let batches = read_dir(&wdir);
    let b = &batches[0];
    let mut fields: Vec<arrow::datatypes::Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(arrow::datatypes::Field::new(
        "client_version",
        arrow::datatypes::DataType::Utf8,
        true,
    ));
    let mut cols = b.columns().to_vec();
    cols.push(std::sync::Arc::new(arrow::array::StringArray::from(vec![
        "9.1";
        b.num_rows()
    ])));
    let extended = arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        cols,
    )
    .unwrap();
    assert_eq!(batches.len(), 1);
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        extended.schema(),
        None,
    )
    .unwrap();
    w.write(&extended).unwrap();
    w.close().unwrap();
    let extra = tmp.path().join("extra");
    heat(&input, &extra, &[]).unwrap();
    assert_eq!(all_rows(&extra, &["heat"]), all_rows(&reference, &["heat"]));
}

#[test]
fn missing_empty_and_one_sided_days_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    generate(&input, 2, 500, 40, 10);

    // A day present for watches but not for interactions.
    let idir = input.join(format!("interactions/dt={D}"));
    let saved = tmp.path().join("saved");
    copy_tree(&idir, &saved);
    std::fs::remove_dir_all(&idir).unwrap();
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(
        err.contains("input `interactions`") && err.contains("lacks 1 day(s)") && err.contains(D),
        "{err}"
    );
    copy_tree(&saved, &idir);

    // An empty day (a valid file without rows) counts as missing, and says so.
    let wdir = input.join(format!("watches/dt={D}"));
    for f in parquet_files(&wdir) {
        std::fs::remove_file(f).unwrap();
    }
    write_watches(&wdir.join("part-00000.parquet"), &[]);
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(
        err.contains("input `watches`") && err.contains(&format!("{D} (empty)")),
        "{err}"
    );
    let err = job("quality", &input, &output, &[]).unwrap_err();
    assert!(err.contains("missing or empty in: watches"), "{err}");
    // A missing day inside a profile window: named, or accepted with max_missing_days.
    std::fs::remove_dir_all(&wdir).unwrap();
    generate(&input, 3, 500, 40, 10);
    std::fs::remove_dir_all(input.join("watches/dt=2026-01-01")).unwrap();
    let profiles = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "profiles_reference",
            "--date",
            "2026-01-03",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--set",
            "profile_days=2",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let args = profiles(&[]);
    let err = run_err(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("input `watches`")
            && err.contains("2026-01-01")
            && err.contains("max_missing_days = 0"),
        "{err}"
    );
    let args = profiles(&["--set", "max_missing_days=1"]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let m = manifest(&output.join("user_profile/dt=2026-01-03"));
    let watches = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["table"] == "watches")
        .unwrap()
        .clone();
    assert_eq!(watches["missing"], serde_json::json!(["2026-01-01"]));
}

#[test]
fn an_unwritable_output_is_a_named_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 2, 300, 30, 11);
    // The tests run as root, where permissions do not stop writes: a file in the way does.
    let blocker = tmp.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let output = blocker.join("out");
    let err = heat(&input, &output, &[]).unwrap_err();
    assert!(err.contains("not-a-directory/out"), "{err}");
    assert!(err.lines().count() <= 6, "one clear message: {err}");
}

/// Runs liverec with a file-size limit, so that writes fail like on a full disk (EFBIG, with
/// SIGXFSZ ignored so the process sees the error instead of being killed).
fn run_with_file_limit(args: &[&str], bytes: u64) -> std::process::Output {
    let mut cmd = liverec();
    cmd.args(args);
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn a_full_disk_leaves_nothing_half_committed_and_the_rerun_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let output = tmp.path().join("out");
    let reference = tmp.path().join("ref");
    generate(&input, 4, 1500, 60, 12);
    let args = |out: &Path| {
        [
            "run",
            "training_set",
            "--date",
            "2026-01-04",
            "--input",
            &s(&input),
            "--output",
            &s(out),
            "--set",
            "label_days=1",
            "--set",
            "profile_days=2",
        ]
        .map(|a| a.to_string())
    };
    let a = args(&output);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run_with_file_limit(&a, 40 * 1024);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the limit did not bite");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("File too large") || stderr.contains("os error 27"),
        "{stderr}"
    );
    // Whatever was committed is whole; nothing else is visible.
    for table in [
        "user_profile",
        "samples",
        "exposure_samples",
        "anchor_profile",
    ] {
        let dir = output.join(table).join("dt=2026-01-04");
        if dir.exists() {
            assert_partition_whole(&dir);
        }
    }
    assert!(
        !output.join("samples/dt=2026-01-04").exists(),
        "samples are the largest output and cannot have fitted"
    );

    run_ok(&a);
    let b = args(&reference);
    run_ok(&b.iter().map(String::as_str).collect::<Vec<_>>());
    let tables = [
        "samples",
        "exposure_samples",
        "user_profile",
        "anchor_profile",
    ];
    assert_eq!(all_rows(&output, &tables), all_rows(&reference, &tables));
}

#[test]
fn ad_hoc_sql_reads_a_nan_among_equal_values_as_nan() {
    // Parquet statistics leave NaN out, so min = max = 1.0 for this file; DataFusion 55 with
    // statistics would read the NaN as 1.0.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 1, 300, 30, 13);
    let dir = input.join("interactions/dt=2026-01-01");
    let mut rows = vec![read_interactions(&dir)[0].clone(); 3];
    for (r, v) in rows.iter_mut().zip([1.0, f64::NAN, 1.0]) {
        r.kind = Some("comment".into());
        r.value = Some(v);
    }
    write_interactions(&dir.join("part-00001.parquet"), &rows);
    let csv = run_ok(&[
        "sql",
        "--input",
        &s(&input),
        "--output",
        &s(&tmp.path().join("out")),
        "--format",
        "csv",
        "-e",
        "SELECT COUNT(*) AS n FROM interactions WHERE isnan(value)",
    ]);
    assert_eq!(csv.trim(), "n\n1", "{csv}");
}
