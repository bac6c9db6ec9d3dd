//! The `als` job through the real binary on generated data: factor tables without NaN, of
//! the requested length, with their norms; candidates that are each user's best anchors by
//! the inner product of the written vectors (recomputed here), ranked with ties by anchor
//! id, liked anchors left out; a rerun gives the same bits; the ALS channel is evaluated
//! by `eval_als`; bad parameters are refused by name.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::Float32Type;
use common::*;

const D: &str = "2026-01-12";

/// id -> vector of a factor table.
fn vectors(dir: &Path, id: &str) -> BTreeMap<i64, Vec<f32>> {
    let mut out = BTreeMap::new();
    for b in read_dir(dir) {
        let ids = col_i64(&b, id);
        let lists = b.column_by_name("factors").unwrap().as_fixed_size_list();
        let norms = b
            .column_by_name("norm")
            .unwrap()
            .as_primitive::<Float32Type>()
            .clone();
        for (i, id) in ids.iter().enumerate() {
            let v: Vec<f32> = lists
                .value(i)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec();
            assert!(v.iter().all(|x| x.is_finite()), "a non-finite factor");
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - norms.value(i)).abs() <= 1e-5 * norm.max(1.0));
            out.insert(*id, v);
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn als_writes_vectors_and_the_best_anchors_by_inner_product() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("input"), dir.path().join("output"));
    generate(&input, 14, 2000, 150, 5);
    let run = |extra: &[&str]| {
        let (i, o) = (s(&input), s(&output));
        let mut args = vec!["run", "als", "--date", D, "--input", &i, "--output", &o];
        args.extend(["--set", "window_days=7", "--set", "factors=16"]);
        args.extend(["--set", "candidates_per_user=20"]);
        args.extend(extra);
        run_ok(&args);
    };
    run(&[]);
    let part = |t: &str| output.join(t).join(format!("dt={D}"));
    let users = vectors(&part("user_factors"), "user_id");
    let anchors = vectors(&part("anchor_factors"), "anchor_id");
    assert!(users.len() > 100 && anchors.len() > 50);
    assert!(
        users
            .values()
            .chain(anchors.values())
            .all(|v| v.len() == 16)
    );

    // Likes of the window, as written by the sub-job.
    let mut liked: HashSet<(i64, i64)> = HashSet::new();
    for b in read_dir(&part("als_likes")) {
        let (u, a) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        liked.extend(u.iter().copied().zip(a.iter().copied()));
    }
    // Every liked pair's user and anchor has a vector, and nothing else does.
    let liked_users: HashSet<i64> = liked.iter().map(|p| p.0).collect();
    assert_eq!(liked_users, users.keys().copied().collect());

    // Candidates: recomputed from the written vectors.
    let mut lists: HashMap<i64, Vec<(i32, i64, f64)>> = HashMap::new();
    for b in read_dir(&part("als_candidates")) {
        let (u, a) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        let score = col_f64(&b, "score");
        let rank = b
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        let source = b.column_by_name("source").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            assert_eq!(source.value(i), "als");
            lists
                .entry(u[i])
                .or_default()
                .push((rank.value(i), a[i], score[i]));
        }
    }
    assert_eq!(
        lists.len(),
        users.len(),
        "a list for every user with a vector"
    );
    for (u, list) in &mut lists {
        list.sort_by_key(|r| r.0);
        let x = &users[u];
        let mut want: Vec<(f32, i64)> = anchors
            .iter()
            .filter(|(a, _)| !liked.contains(&(*u, **a)))
            .map(|(a, y)| (dot(x, y), *a))
            .collect();
        want.sort_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
        want.truncate(20);
        let got: Vec<(f32, i64)> = list.iter().map(|(_, a, s)| (*s as f32, *a)).collect();
        assert_eq!(got, want, "user {u}");
        let ranks: Vec<i32> = list.iter().map(|r| r.0).collect();
        assert_eq!(ranks, (1..=list.len() as i32).collect::<Vec<_>>());
    }

    // A rerun replaces the partitions with the same bits.
    run(&[]);
    assert_eq!(vectors(&part("user_factors"), "user_id"), users);

    // The channel is evaluated like the others.
    let (i, o) = (s(&input), s(&output));
    run_ok(&["run", "heat", "--date", D, "--input", &i, "--output", &o]);
    let eval = format!("run eval_als --date {D} --input {i} --output {o} --set window_days=7");
    run_ok(&eval.split(' ').collect::<Vec<_>>());
    let metrics = read_dir(&part("als_recall_metrics"));
    let channels: HashSet<String> = metrics
        .iter()
        .flat_map(|b| col_str(b, "channel"))
        .flatten()
        .collect();
    assert!(
        channels.contains("als") && channels.contains("heat"),
        "{channels:?}"
    );

    // Out-of-range parameters name themselves.
    let out = liverec()
        .args(["run", "als", "--date", D, "--input", &i, "--output", &o])
        .args(["--set", "factors=2000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("factors"), "{err}");
}
