//! Standard model formats, loaded by the real runtimes: LR, GBDT, GBDT+LR and FM trained
//! through the real binary publish `model.onnx` (and the tree models `model.xgb.json`),
//! listed in the manifest with their sha256; onnxruntime and xgboost (from PyPI, in the test
//! venv) load them and, given inputs built from model.json and the rows independently of
//! liverec, predict what `liverec score` scores — on the validation rows and on copies with
//! unseen categories and missing values.

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
        .arg("tests/python/export_parity.py")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (use scripts/test)", python()));
    assert!(
        out.status.success(),
        "export_parity.py {args:?}: {}",
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
fn onnxruntime_and_xgboost_load_the_exports_and_predict_what_liverec_scores() {
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
    run(&["run", "train", "--model", "lr"]);
    run(&["run", "train", "--model", "gbdt", "--set", "trees=60"]);
    run(&["run", "train_gbdt_lr"]);
    run(&["run", "train_fm"]);

    // Rows the models have never seen: unseen and missing categories, missing numbers.
    let rows = dir.path().join("rows");
    let samples = output.join("samples").join(format!("dt={V}"));
    let validation = read_dir(&samples)
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    for model in ["lr", "gbdt", "gbdt_lr", "fm"] {
        let folder = published(&output, model);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
        let has_trees = model.starts_with("gbdt");
        let exports: &[&str] = if has_trees {
            &["model.onnx", "model.xgb.json"]
        } else {
            &["model.onnx"]
        };
        for file in exports {
            let bytes = std::fs::read(folder.join(file)).unwrap();
            assert_eq!(
                manifest["files"][file].as_str(),
                Some(hex::encode(Sha256::digest(&bytes)).as_str()),
                "{model}: {file} listed with its sha256"
            );
        }
        assert_eq!(folder.join("model.xgb.json").exists(), has_trees, "{model}");
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
        let runtimes: &[&str] = if has_trees {
            &["compare-onnx", "compare"]
        } else {
            &["compare-onnx"]
        };
        for command in runtimes {
            let report = parity(&[command, &s(&folder), &s(&rows), &s(&scored)]);
            eprintln!("{model} {command}: {}", report.trim());
            let field = |name: &str| -> f64 {
                report
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("no {name} in {report:?}"))
                    .parse()
                    .unwrap()
            };
            assert_eq!(field("rows") as usize, 3 * validation, "{model}: {report}");
            assert!(
                field("max_abs_diff") <= 1e-5,
                "{model} {command}: the runtime differs from liverec: {report}"
            );
        }
    }
}
