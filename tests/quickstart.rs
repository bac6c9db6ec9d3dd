//! The README's first command: `liverec quickstart` generates demo data and runs the pipeline.

mod common;

use common::*;

#[test]
fn quickstart_runs_the_pipeline_on_demo_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let stdout = run_ok(&["quickstart", "--dir", &s(&dir)]);
    assert!(
        stdout.contains("top anchors by heat on 2026-01-16"),
        "{stdout}"
    );
    let out = dir.join("output");
    for table in [
        "heat",
        "itemcf_sim",
        "candidates",
        "samples",
        "exposure_samples",
        "user_profile",
    ] {
        let m = assert_partition_whole(&out.join(format!("{table}/dt=2026-01-16")));
        assert!(m["rows"].as_u64().unwrap() > 0, "{table} is empty");
    }
    for day in 10..=16 {
        assert_partition_whole(&out.join(format!("samples/dt=2026-01-{day:02}")));
    }
    assert!(
        out.join("training_sets/end=2026-01-16/manifest.json")
            .exists()
    );
    // The daily workflow ran: recall of the day before, three published models, a report.
    assert_partition_whole(&out.join("recall_metrics/dt=2026-01-15"));
    assert!(out.join("metrics/recall/dt=2026-01-15.json").exists());
    for model in ["lr", "gbdt", "gbdt_lr"] {
        assert!(
            out.join("models").join(model).join("LATEST").exists(),
            "{model}"
        );
    }
    assert!(out.join("runs/daily/dt=2026-01-16/report.html").exists());
    assert!(stdout.contains("gate passed"), "{stdout}");
}
