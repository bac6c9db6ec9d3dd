//! Standard model formats, loaded by the real runtimes: a GBDT and a GBDT+LR trained through
//! the real binary publish `model.xgb.json`, listed in the manifest with its sha256; xgboost
//! (from PyPI, in the test venv) loads it and, given the tree input vector built from
//! model.json and the rows independently of liverec, predicts what `liverec score` scores —
//! on the validation rows and on copies with unseen categories and missing values.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use sha2::{Digest, Sha256};

const E: &str = "2026-01-10";
const V: &str = "2026-01-11";

fn python() -> String {
    std::env::var("LIVEREC_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn parity(args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg("tests/python/xgboost_parity.py")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (use scripts/test)", python()));
    assert!(
        out.status.success(),
        "xgboost_parity.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The version folder LATEST names.
fn published(output: &Path, model: &str) -> PathBuf {
    let dir = output.join("models").join(model);
    let version = std::fs::read_to_string(dir.join("LATEST")).unwrap();
    dir.join(version.trim())
}

#[test]
fn xgboost_loads_the_trees_and_predicts_what_liverec_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("input"), dir.path().join("output"));
    generate(&input, 12, 3000, 200, 5);
    let at = |a: &[&str]| {
        let mut args: Vec<String> = a.iter().map(|x| x.to_string()).collect();
        args.extend(
            ["--date", E, "--input", &s(&input), "--output", &s(&output)].map(String::from),
        );
        args
    };
    let run = |a: &[&str]| {
        let args = at(a);
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    run(&["run", "training_set", "--set", "label_days=3"]);
    run(&["run", "train", "--model", "gbdt", "--set", "trees=60"]);
    run(&["run", "train_gbdt_lr"]);

    // Rows the model has never seen: unseen and missing categories, missing numbers.
    let rows = dir.path().join("rows");
    let samples = output.join("samples").join(format!("dt={V}"));
    for model in ["gbdt", "gbdt_lr"] {
        let folder = published(&output, model);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
        let bytes = std::fs::read(folder.join("model.xgb.json")).unwrap();
        assert_eq!(
            manifest["files"]["model.xgb.json"].as_str(),
            Some(hex::encode(Sha256::digest(&bytes)).as_str()),
            "{model}: model.xgb.json listed with its sha256"
        );
        if !rows.exists() {
            parity(&["prepare", &s(&samples), &s(&folder), &s(&rows)]);
        }
        let scored = dir.path().join(format!("scored-{model}.parquet"));
        run_ok(&[
            "score",
            "--model",
            &s(&folder),
            "--input",
            &s(&rows),
            "--output",
            &s(&scored),
        ]);
        let report = parity(&["compare", &s(&folder), &s(&rows), &s(&scored)]);
        eprintln!("{model}: {}", report.trim());
        let field = |name: &str| -> f64 {
            report
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} in {report:?}"))
                .parse()
                .unwrap()
        };
        let validation = read_dir(&samples)
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
        assert_eq!(field("rows") as usize, 3 * validation, "{model}: {report}");
        assert!(
            field("max_abs_diff") <= 1e-5,
            "{model}: xgboost differs from liverec: {report}"
        );
    }

    // LR has no trees: no XGBoost form is written.
    run(&["run", "train", "--model", "lr"]);
    assert!(!published(&output, "lr").join("model.xgb.json").exists());
}
