//! The `als` job through the real binary on generated data: factor tables without NaN, of
//! the requested length, with their norms; candidates that are each user's best anchors by
//! the inner product of the written vectors (recomputed here), ranked with ties by anchor
//! id, liked anchors left out, added to item-CF's candidates of the day whose other channels
//! stay as they were; a rerun gives the same bits; `eval_recall` evaluates the channel;
//! without item-CF's candidates, or with bad parameters, the job fails naming why.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use common::*;

const D: &str = "2026-01-12";

/// A candidates partition's rows: (user, anchor, source, score bits, rank), in file order.
fn candidate_rows(dir: &Path) -> Vec<(i64, i64, String, u64, i64)> {
    let mut out = Vec::new();
    for b in read_dir(dir) {
        let (u, a) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        let (source, score) = (col_str(&b, "source"), col_f64(&b, "score"));
        let rank = col_i64(&b, "rank");
        for i in 0..b.num_rows() {
            let s = source[i].clone().unwrap();
            out.push((u[i], a[i], s, score[i].to_bits(), rank[i]));
        }
    }
    out
}

#[test]
fn als_writes_vectors_and_the_best_anchors_by_inner_product() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("input"), dir.path().join("output"));
    generate(&input, 14, 2000, 150, 5);
    let (i, o) = (s(&input), s(&output));
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "als", "--date", D, "--input", &i, "--output", &o];
        args.extend(["--set", "window_days=7", "--set", "factors=16"]);
        args.extend(["--set", "candidates_per_user=20"]);
        args.extend(extra);
        run_ok(&args);
    };
    // The channel joins item-CF's candidates: without them the job stops before fitting.
    let err = run_err(&["run", "als", "--date", D, "--input", &i, "--output", &o]);
    assert!(
        err.contains("candidates") && err.contains("itemcf"),
        "{err}"
    );
    assert!(!output.join("user_factors").exists());
    run_ok(&["run", "heat", "--date", D, "--input", &i, "--output", &o]);
    let itemcf = format!("run itemcf --date {D} --input {i} --output {o} --set window_days=7");
    run_ok(&itemcf.split(' ').collect::<Vec<_>>());
    let candidates = output.join(format!("candidates/dt={D}"));
    let itemcf_rows = candidate_rows(&candidates);
    run(&[]);
    let part = |t: &str| output.join(t).join(format!("dt={D}"));
    let users = factor_table(&part("user_factors"), "user_id");
    let anchors = factor_table(&part("anchor_factors"), "anchor_id");
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

    // The other channels are untouched, in the same order (the first file); the als rows
    // follow, sorted by user and rank (a second file).
    let merged = candidate_rows(&candidates);
    let (others, als): (Vec<_>, Vec<_>) = merged.iter().cloned().partition(|r| r.2 != "als");
    assert_eq!(
        merged[..others.len()],
        others[..],
        "als rows among the others"
    );
    assert_eq!(others, itemcf_rows, "item-CF's channels changed");
    let mut sorted = als.clone();
    sorted.sort_by_key(|r| (r.0, r.4));
    assert_eq!(sorted, als, "als rows out of order");

    // Candidates: recomputed from the written vectors.
    let mut lists: HashMap<i64, Vec<(i32, i64, f64)>> = HashMap::new();
    for (u, a, _, score, rank) in &als {
        lists
            .entry(*u)
            .or_default()
            .push((*rank as i32, *a, f64::from_bits(*score)));
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
            .map(|(a, y)| (dot_f32(x, y), *a))
            .collect();
        want.sort_by(|p, q| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1)));
        want.truncate(20);
        let got: Vec<(f32, i64)> = list.iter().map(|(_, a, s)| (*s as f32, *a)).collect();
        assert_eq!(got, want, "user {u}");
        let ranks: Vec<i32> = list.iter().map(|r| r.0).collect();
        assert_eq!(ranks, (1..=list.len() as i32).collect::<Vec<_>>());
    }

    // A rerun replaces the partitions with the same bits: the earlier als rows are
    // replaced, not kept beside the new ones.
    run(&[]);
    assert_eq!(factor_table(&part("user_factors"), "user_id"), users);
    assert_eq!(candidate_rows(&candidates), merged);

    // The channel is evaluated like the others, by eval_recall.
    let eval = format!("run eval_recall --date {D} --input {i} --output {o} --set window_days=7");
    run_ok(&eval.split(' ').collect::<Vec<_>>());
    let metrics = read_dir(&part("recall_metrics"));
    let channels: HashSet<String> = metrics
        .iter()
        .flat_map(|b| col_str(b, "channel"))
        .flatten()
        .collect();
    for channel in ["als", "itemcf", "heat"] {
        assert!(channels.contains(channel), "{channels:?}");
    }

    // Out-of-range parameters name themselves.
    let out = liverec()
        .args(["run", "als", "--date", D, "--input", &i, "--output", &o])
        .args(["--set", "factors=2000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("factors"), "{err}");

    // A window without likes is an error naming the likes partition, and the earlier
    // vectors and candidates stay as they were.
    let before = candidate_rows(&candidates);
    let err = run_err(&[
        "run",
        "als",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
        "--set",
        "like_threshold_s=1e9",
        "--set",
        "window_days=7",
    ]);
    assert!(
        err.contains("als_likes") && err.contains("no likes"),
        "{err}"
    );
    assert_eq!(candidate_rows(&candidates), before);
    assert_eq!(factor_table(&part("user_factors"), "user_id"), users);
}
