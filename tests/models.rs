//! Ranking models end to end through the real binary: LR, GBDT and GBDT+LR trained on a
//! generated training set, validated on the next day, published with checksums; the
//! reference scorer reproduces the validation predictions from the artifact alone; the gate
//! keeps LATEST when a model is not good enough; a changed byte is refused.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use sha2::{Digest, Sha256};

const E: &str = "2026-01-10";
const V: &str = "2026-01-11";

/// Generated input and a 3-day training set ending at E, built once for all tests here.
fn fixture() -> &'static (PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let (input, output) = (dir.join("input"), dir.join("output"));
        generate(&input, 12, 3000, 200, 5);
        run_ok(&[
            "run",
            "training_set",
            "--date",
            E,
            "--input",
            &s(&input),
            "--output",
            &s(&output),
            "--set",
            "label_days=3",
        ]);
        (input, output)
    })
}

/// A private copy of the fixture's output root, so tests do not share LATEST pointers.
fn fresh_output(name: &str) -> (PathBuf, PathBuf) {
    let (input, output) = fixture();
    let copy = output.with_file_name(format!("output-{name}"));
    let status = std::process::Command::new("cp")
        .args(["-r", &s(output), &s(&copy)])
        .status()
        .unwrap();
    assert!(status.success());
    (input.clone(), copy)
}

fn train(input: &Path, output: &Path, model: &str, extra: &[&str]) -> std::process::Output {
    liverec()
        .args(train_args(input, output, model, extra))
        .output()
        .unwrap()
}

fn train_args(input: &Path, output: &Path, model: &str, extra: &[&str]) -> Vec<String> {
    // GBDT+LR through its own job file (`extends = "train"`), the others via --model.
    let mut args = if model == "gbdt_lr" {
        vec!["run".to_string(), "train_gbdt_lr".into()]
    } else {
        vec![
            "run".to_string(),
            "train".into(),
            "--model".into(),
            model.into(),
        ]
    };
    args.extend([
        "--date".into(),
        E.into(),
        "--input".into(),
        s(input),
        "--output".into(),
        s(output),
    ]);
    for e in extra {
        args.push("--set".into());
        args.push(e.to_string());
    }
    args
}

fn latest(output: &Path, model: &str) -> Option<String> {
    std::fs::read_to_string(output.join("models").join(model).join("LATEST"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (user, anchor) -> score of a scored / predictions Parquet file.
fn scores(path: &Path) -> HashMap<(i64, i64), f64> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        let (u, a, p) = (
            col_i64(&batch, "user_id"),
            col_i64(&batch, "anchor_id"),
            col_f64(&batch, "score"),
        );
        for i in 0..u.len() {
            assert!(out.insert((u[i], a[i]), p[i]).is_none(), "duplicate pair");
        }
    }
    out
}

/// Runs the reference scorer on a model folder and a samples partition of V, and returns
/// the largest difference from the training run's validation predictions in `folder`.
fn rescore_difference(model: &Path, table: &Path, folder: &Path, scored: &Path) -> f64 {
    run_ok(&[
        "score",
        "--model",
        &s(model),
        "--input",
        &s(&table.join(format!("dt={V}"))),
        "--output",
        &s(scored),
    ]);
    let offline = scores(&folder.join("validation_predictions.parquet"));
    let online = scores(scored);
    assert_eq!(offline.len(), online.len());
    offline
        .iter()
        .map(|(k, p)| (p - online[k]).abs())
        .fold(0.0f64, f64::max)
}

fn check_model(input: &Path, output: &Path, model: &str) -> serde_json::Value {
    let out = train(input, output, model, &[]);
    assert!(
        out.status.success(),
        "train {model}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = latest(output, model).expect("LATEST written");
    assert!(version.starts_with(&format!("{E}-")), "version {version}");
    let folder = output.join("models").join(model).join(&version);

    // Every file is listed in the manifest with its sha256, recomputed here independently.
    let manifest = json(&folder.join("manifest.json"));
    let files = manifest["files"].as_object().unwrap();
    for name in [
        "model.json",
        "metrics.json",
        "report.html",
        "validation_predictions.parquet",
    ] {
        let bytes = std::fs::read(folder.join(name)).unwrap();
        assert_eq!(
            files[name].as_str().unwrap(),
            hex::encode(Sha256::digest(&bytes)),
            "{model}: sha256 of {name}"
        );
    }
    assert_eq!(manifest["validation_day"], V);
    assert_eq!(manifest["train_days"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["gate"]["passed"], true);
    assert!(manifest["train_rows"].as_u64().unwrap() > 1000);

    // The artifact describes itself.
    let m = json(&folder.join("model.json"));
    assert_eq!(m["format_version"], 1);
    assert_eq!(m["model_type"], model);
    let features = m["features"].as_array().unwrap();
    assert_eq!(features[0]["name"], "u_watch_s");
    let vocabs = m["vocabularies"].as_array().unwrap();
    assert_eq!(vocabs.len(), 5);
    for v in vocabs {
        assert_eq!(
            v["oov_index"].as_u64().unwrap() as usize,
            v["values"].as_array().unwrap().len()
        );
    }
    match model {
        "fm" => {
            // LR's inputs and terms, plus one factor vector per term.
            let terms = m["linear"]["terms"].as_array().unwrap();
            let vectors = m["interactions"]["vectors"].as_array().unwrap();
            assert_eq!(vectors.len(), terms.len());
            let factors = m["interactions"]["factors"].as_u64().unwrap() as usize;
            assert_eq!(factors, 8);
            assert!(
                vectors
                    .iter()
                    .all(|v| v.as_array().unwrap().len() == factors)
            );
            assert!(
                vectors.iter().flat_map(|v| v.as_array().unwrap()).any(|x| x
                    .as_f64()
                    .unwrap()
                    .abs()
                    > 1e-3),
                "the factors were trained"
            );
            assert!(!folder.join("model.xgb.json").exists());
        }
        "lr" => {
            assert_eq!(m["numeric_transforms"].as_array().unwrap().len(), 33);
            assert!(
                m["linear"]["terms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["kind"] == "out_of_vocabulary")
            );
        }
        "gbdt" => {
            let trees = m["ensemble"]["trees"].as_array().unwrap();
            assert_eq!(trees.len(), 200);
            let root = &trees[0]["nodes"][0];
            assert!(
                root["threshold"].is_number() && root["missing"].is_number(),
                "{root}"
            );
        }
        _ => {
            let trees = m["ensemble"]["trees"].as_array().unwrap();
            assert_eq!(trees.len(), 60);
            let terms = m["linear"]["terms"].as_array().unwrap();
            assert!(terms.iter().all(|t| t["kind"] == "leaf"));
            let leaves: usize = trees
                .iter()
                .map(|t| {
                    t["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|n| n["leaf"] == true)
                        .count()
                })
                .sum();
            assert_eq!(terms.len(), leaves, "one LR input per leaf");
        }
    }

    // Metrics: a real model on this data, and the report draws both plots inline.
    let metrics = json(&folder.join("metrics.json"));
    let auc = metrics["validation"]["auc"].as_f64().unwrap();
    assert!(auc > 0.65 && auc < 1.0, "{model}: validation AUC {auc}");
    let ne = metrics["validation"]["normalized_entropy"]
        .as_f64()
        .unwrap();
    assert!(ne < 1.0, "{model}: normalized entropy {ne}");
    assert!(metrics["exposure_validation"]["auc"].as_f64().unwrap() > 0.5);
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "ROC and calibration plots");
    assert!(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"));
    assert!(!html.contains("<script"));

    // The reference scorer, given only a copy of the version folder, reproduces the offline
    // validation predictions to 1e-9.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join(&version);
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, copy.join(p.file_name().unwrap())).unwrap();
    }
    let scored = elsewhere.path().join("scored.parquet");
    let samples = output.join("samples");
    let worst = rescore_difference(&copy, &samples, &folder, &scored);
    assert!(worst <= 1e-9, "{model}: scorer differs by {worst}");
    let rows = read_dir(&samples.join(format!("dt={V}")))
        .iter()
        .map(|b| b.num_rows() as u64)
        .sum::<u64>();
    assert_eq!(rows, manifest["validation_rows"].as_u64().unwrap());
    metrics
}

#[test]
fn lr_gbdt_gbdt_lr_and_fm_train_publish_and_score_from_the_artifact() {
    let (input, output) = fresh_output("all");
    // Which model wins is a benchmark question (docs/benchmarks.md, medium scale); on this
    // small set each must simply be a real model, published and reproducible.
    for model in ["lr", "gbdt", "gbdt_lr", "fm"] {
        check_model(&input, &output, model);
    }
    // Each model has its own LATEST.
    for model in ["lr", "gbdt", "gbdt_lr", "fm"] {
        assert!(latest(&output, model).is_some(), "{model}");
    }
}

#[test]
fn a_failed_gate_keeps_latest_and_exits_non_zero() {
    let (input, output) = fresh_output("gate");
    let ok = train(&input, &output, "gbdt", &["trees=40"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let published = latest(&output, "gbdt").unwrap();

    // Below min_auc.
    let out = train(&input, &output, "gbdt", &["trees=40", "min_auc=0.999"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gate failed") && err.contains("min_auc 0.999"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    assert_eq!(latest(&output, "gbdt").unwrap(), published);

    // A much weaker model than LATEST, with no drop allowed.
    let out = train(
        &input,
        &output,
        "gbdt",
        &["trees=1", "max_depth=1", "max_auc_drop=0"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("below the champion") && err.contains("on the same rows"),
        "{err}"
    );
    assert_eq!(latest(&output, "gbdt").unwrap(), published);

    // The rejected versions are kept for inspection, marked as such; nothing is left in staging.
    let dir = output.join("models/gbdt");
    let versions: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("2026-"))
        .collect();
    assert_eq!(versions.len(), 3, "{versions:?}");
    let rejected = versions.iter().filter(|v| **v != published).count();
    assert_eq!(rejected, 2);
    for v in versions.iter().filter(|v| **v != published) {
        assert_eq!(
            json(&dir.join(v).join("manifest.json"))["gate"]["passed"],
            false
        );
    }
    let staging = dir.join("_staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}

#[test]
fn a_changed_byte_in_the_artifact_is_refused() {
    let (input, output) = fresh_output("corrupt");
    let ok = train(&input, &output, "lr", &[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let folder = output
        .join("models/lr")
        .join(latest(&output, "lr").unwrap());
    let model = folder.join("model.json");
    let mut bytes = std::fs::read(&model).unwrap();
    // Change one digit of a weight: still valid JSON, a different model.
    let start = bytes.windows(9).position(|w| w == b"\"weight\":").unwrap();
    let dot = start + bytes[start..].iter().position(|b| *b == b'.').unwrap();
    let at = dot + 2;
    assert!(bytes[at].is_ascii_digit());
    bytes[at] = b'0' + (bytes[at] - b'0' + 1) % 10;
    std::fs::write(&model, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = run_err(&[
        "score",
        "--model",
        &s(&output.join("models/lr")),
        "--input",
        &s(&output.join("samples").join(format!("dt={V}"))),
        "--output",
        &s(&out.path().join("x.parquet")),
    ]);
    assert!(
        err.contains("checksum error") && err.contains("model.json"),
        "{err}"
    );
    assert!(!out.path().join("x.parquet").exists());
}

#[test]
fn training_without_a_training_set_names_the_fix() {
    let (input, output) = fresh_output("noset");
    let out = liverec()
        .args([
            "run",
            "train",
            "--date",
            "2026-01-09",
            "--input",
            &s(&input),
            "--output",
            &s(&output),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no training set ending 2026-01-09")
            && err.contains("liverec run training_set"),
        "{err}"
    );
}

#[test]
fn downsampled_exposure_negatives_are_recalibrated() {
    let (input, _) = fixture();
    let output = input.with_file_name("output-exposures");
    run_ok(&[
        "run",
        "training_set",
        "--date",
        E,
        "--input",
        &s(input),
        "--output",
        &s(&output),
        "--set",
        "label_days=3",
        "--set",
        "neg_sample_rate=0.25",
    ]);
    let out = train(
        input,
        &output,
        "gbdt",
        &["sample_table=exposure_samples", "trees=60"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = output
        .join("models/gbdt")
        .join(latest(&output, "gbdt").unwrap());
    let model = json(&folder.join("model.json"));
    let offset = model["logit_offset"].as_f64().unwrap();
    assert!(
        (offset - 0.25f64.ln()).abs() < 1e-12,
        "logit_offset {offset}"
    );
    // Weighted by sample_weight, the recalibrated predictions match the full traffic's rate;
    // without the offset they would overshoot it several-fold.
    let m = json(&folder.join("metrics.json"));
    let cal = m["validation"]["calibration"].as_f64().unwrap();
    assert!((0.85..1.15).contains(&cal), "calibration {cal}");
    let rate = m["validation"]["positive_rate"].as_f64().unwrap();
    assert!(rate < 0.5, "weighted click rate {rate}");
    assert!(m["validation"]["auc"].as_f64().unwrap() > 0.6);
    // The scorer applies the same offset.
    let scored = output.join("scored.parquet");
    let table = output.join("exposure_samples");
    assert!(rescore_difference(&output.join("models/gbdt"), &table, &folder, &scored) <= 1e-9);
}

#[test]
fn rows_over_the_cap_are_downsampled_deterministically() {
    let (input, output) = fresh_output("cap");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let out = train(
            &input,
            &output,
            "lr",
            &["max_train_rows=3000", "min_auc=0.5", "max_auc_drop=1"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let folder = output
            .join("models/lr")
            .join(latest(&output, "lr").unwrap());
        let m = json(&folder.join("manifest.json"));
        let rate = m["train_sample_rate"].as_f64().unwrap();
        let rows = m["train_rows"].as_u64().unwrap();
        assert!(rate < 1.0, "rate {rate}");
        assert!(
            (2400..3600).contains(&rows),
            "{rows} rows kept for a cap of 3000"
        );
        seen.push((rows, json(&folder.join("model.json"))["linear"].clone()));
    }
    // The same seed keeps the same rows, so the same model.
    assert_eq!(seen[0], seen[1]);
    let other = train(
        &input,
        &output,
        "lr",
        &[
            "max_train_rows=3000",
            "train_seed=2",
            "min_auc=0.5",
            "max_auc_drop=1",
        ],
    );
    assert!(other.status.success());
    let folder = output
        .join("models/lr")
        .join(latest(&output, "lr").unwrap());
    assert_ne!(json(&folder.join("model.json"))["linear"], seen[0].1);
}

/// The newest version folder of a model (published or not).
fn newest_version(output: &Path, model: &str) -> PathBuf {
    let dir = output.join("models").join(model);
    let mut versions: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("2026-"))
        .collect();
    versions.sort_by_key(|v| {
        json(&dir.join(v).join("manifest.json"))["created_at"]
            .as_str()
            .unwrap()
            .to_string()
    });
    dir.join(versions.last().unwrap())
}

#[test]
fn the_gate_scores_the_champion_on_the_challengers_rows() {
    let (input, output) = fresh_output("champion");
    output_ok(liverec().args(train_args(&input, &output, "lr", &[])));
    let champion = latest(&output, "lr").unwrap();
    output_ok(liverec().args(train_args(&input, &output, "lr", &["l2=3"])));
    let folder = newest_version(&output, "lr");
    let m = json(&folder.join("metrics.json"));
    let gate = &m["gate"];
    // The champion was scored on exactly the challenger's validation rows: same rows, same
    // positives; its AUC is what the gate compared with.
    let c = &gate["champion"];
    assert_eq!(c["version"], champion.as_str());
    assert_eq!(c["validation"]["rows"], m["validation"]["rows"]);
    assert_eq!(c["validation"]["positives"], m["validation"]["positives"]);
    // Scored independently with the reference scorer on the validation day, the champion's
    // own predictions give the AUC the gate recorded.
    let theirs = json(
        &output
            .join("models/lr")
            .join(&champion)
            .join("metrics.json"),
    );
    assert_eq!(theirs["validation_day"], m["validation_day"]);
    let auc = c["validation"]["auc"].as_f64().unwrap();
    assert!(
        (auc - theirs["validation"]["auc"].as_f64().unwrap()).abs() < 1e-12,
        "champion AUC {auc} on the same rows vs {}",
        theirs["validation"]["auc"]
    );
    assert!(
        gate["reason"].as_str().unwrap().contains("of the champion"),
        "{gate}"
    );
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(html.contains("Against the published model, on the same validation rows"));
    assert!(html.contains("ROC on the same rows") && html.contains("champion (LATEST)"));
}

#[test]
fn a_champion_for_another_label_or_with_missing_features_is_not_compared() {
    let (input, output) = fresh_output("no-champion");
    // LATEST trained on exposure samples (label: click) is not a champion for a model of
    // watch samples.
    output_ok(liverec().args(train_args(
        &input,
        &output,
        "gbdt",
        &["sample_table=exposure_samples", "trees=20"],
    )));
    output_ok(liverec().args(train_args(&input, &output, "gbdt", &["trees=20"])));
    let gate = &json(&newest_version(&output, "gbdt").join("metrics.json"))["gate"];
    assert!(gate["champion"].is_null(), "{gate}");
    let note = gate["champion_note"].as_str().unwrap();
    assert!(
        note.contains("exposure_samples") && note.contains("not a champion"),
        "{note}"
    );
    assert!(
        gate["reason"]
            .as_str()
            .unwrap()
            .contains("gated on min_auc alone")
    );

    // A champion reading a feature today's samples lack: the gate says so and falls back.
    let folder = output
        .join("models/gbdt")
        .join(latest(&output, "gbdt").unwrap());
    let model = folder.join("model.json");
    let text = std::fs::read_to_string(&model).unwrap().replacen(
        "\"name\": \"u_age\"",
        "\"name\": \"u_age_retired\"",
        1,
    );
    assert!(text.contains("u_age_retired"));
    std::fs::write(&model, &text).unwrap();
    let manifest_path = folder.join("manifest.json");
    let mut manifest = json(&manifest_path);
    manifest["files"]["model.json"] = hex::encode(Sha256::digest(text.as_bytes())).into();
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    output_ok(liverec().args(train_args(&input, &output, "gbdt", &["trees=20"])));
    let gate = &json(&newest_version(&output, "gbdt").join("metrics.json"))["gate"];
    assert!(gate["champion"].is_null(), "{gate}");
    let note = gate["champion_note"].as_str().unwrap();
    assert!(
        note.contains("lack") && note.contains("u_age_retired"),
        "{note}"
    );
}

#[test]
fn a_timeout_ends_a_fit_under_way_and_publishes_nothing() {
    let (input, output) = fresh_output("timeout");
    // The fit lasts 10 minutes unless the deadline ends the process first.
    let mut args = train_args(&input, &output, "gbdt", &["trees=20"]);
    args.extend(["--timeout".into(), "15".into()]);
    let mut run = Watched::spawn(
        liverec()
            .args(&args)
            .env("LIVEREC_FAULT_SLEEP_MS_FIT", "600000"),
    );
    run.wait_for_line("fault point fit", std::time::Duration::from_secs(120));
    assert!(
        run.ends_within(std::time::Duration::from_secs(120)),
        "the run waited for the fitting thread past its deadline"
    );
    let (status, err) = run.finish();
    assert!(!status.success());
    assert!(err.contains("exceeded its timeout of 15 s"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(latest(&output, "gbdt"), None);
    let dir = output.join("models/gbdt");
    let versions = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name() != "_staging")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        versions,
        0,
        "a version directory was left in {}",
        dir.display()
    );
}
