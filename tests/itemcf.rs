//! Item-CF recall: similarity against an independent computation, candidate channels, and the
//! offline evaluation against the heat baseline.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use common::*;

const D: &str = "2026-01-15";

fn run_all(input: &Path, output: &Path, itemcf_args: &[&str]) {
    let (i, o) = (s(input), s(output));
    run_ok(&["run", "heat", "--date", D, "--input", &i, "--output", &o]);
    let mut args = vec!["run", "itemcf", "--date", D, "--input", &i, "--output", &o];
    args.extend_from_slice(itemcf_args);
    run_ok(&args);
}

/// user -> anchor -> watch time in ms over the 14-day window, from the raw files.
fn watch_ms(input: &Path) -> HashMap<i64, HashMap<i64, i64>> {
    let mut out: HashMap<i64, HashMap<i64, i64>> = HashMap::new();
    for day in 2..=15 {
        for b in read_dir(&input.join(format!("watches/dt=2026-01-{day:02}"))) {
            let (u, a, d) = (
                col_i64(&b, "user_id"),
                col_i64(&b, "anchor_id"),
                col_f64(&b, "duration_s"),
            );
            for r in 0..b.num_rows() {
                *out.entry(u[r]).or_default().entry(a[r]).or_default() +=
                    (d[r] * 1000.0).round() as i64;
            }
        }
    }
    out
}

#[test]
fn similarity_matches_an_independent_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 16, 2500, 300, 17);
    run_all(&input, &output, &[]);

    // likes, n_a and co(a, b) by brute force over each user's liked set.
    let likes: HashMap<i64, BTreeSet<i64>> = watch_ms(&input)
        .into_iter()
        .map(|(u, m)| {
            (
                u,
                m.into_iter()
                    .filter(|(_, ms)| *ms >= 30_000)
                    .map(|(a, _)| a)
                    .collect(),
            )
        })
        .collect();
    let DirectItemCf {
        n,
        co,
        neighbours: expected,
    } = cosine_neighbours(&likes, 2, 50);

    let mut got: HashMap<i64, Vec<(i64, f64, i64, i64)>> = HashMap::new();
    for b in read_dir(&output.join(format!("itemcf_sim/dt={D}"))) {
        let (a, nb, sc, c, r) = (
            col_i64(&b, "anchor_id"),
            col_i64(&b, "neighbor_id"),
            col_f64(&b, "score"),
            col_i64(&b, "cooccurrence"),
            col_i64(&b, "rank"),
        );
        for i in 0..b.num_rows() {
            got.entry(a[i])
                .or_default()
                .push((nb[i], sc[i], c[i], r[i]));
        }
    }
    assert!(
        expected.len() > 100,
        "too few anchors with neighbours: {}",
        expected.len()
    );
    assert_eq!(got.len(), expected.len(), "anchors with neighbours");
    for (a, want) in &expected {
        let have = &got[a];
        assert_eq!(have.len(), want.len(), "neighbour count of {a}");
        for (k, (w, h)) in want.iter().zip(have).enumerate() {
            assert_eq!(h.0, w.0, "neighbour {k} of {a}");
            assert_eq!(h.2, w.2, "co-occurrence of ({a}, {})", w.0);
            assert!((h.1 - w.1).abs() < 1e-12, "score of ({a}, {})", w.0);
            assert_eq!(h.3, k as i64 + 1, "rank");
        }
    }

    // Candidates: itemcf scores are sums of similarities over liked anchors, liked anchors are
    // excluded, ranks run 1..n within (user, source).
    let sim: HashMap<(i64, i64), f64> = got
        .iter()
        .flat_map(|(a, l)| l.iter().map(move |(b, s, _, _)| ((*a, *b), *s)))
        .collect();
    let mut ranks: HashMap<(i64, String), Vec<i64>> = HashMap::new();
    let mut checked = 0;
    for b in read_dir(&output.join(format!("candidates/dt={D}"))) {
        let (u, a, src, sc, r) = (
            col_i64(&b, "user_id"),
            col_i64(&b, "anchor_id"),
            col_str(&b, "source"),
            col_f64(&b, "score"),
            col_i64(&b, "rank"),
        );
        for i in 0..b.num_rows() {
            let source = src[i].clone().unwrap();
            ranks.entry((u[i], source.clone())).or_default().push(r[i]);
            if source == "itemcf" {
                let liked = &likes[&u[i]];
                assert!(!liked.contains(&a[i]), "liked anchor recommended");
                if i % 13 == 0 {
                    let want: f64 = liked.iter().filter_map(|l| sim.get(&(*l, a[i]))).sum();
                    assert!(
                        (sc[i] - want).abs() < 1e-9,
                        "itemcf score of ({}, {})",
                        u[i],
                        a[i]
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50);
    let sources: HashSet<&str> = ranks.keys().map(|(_, s)| s.as_str()).collect();
    assert_eq!(sources, HashSet::from(["itemcf", "follow", "hot"]));
    for ((user, source), mut r) in ranks {
        r.sort_unstable();
        assert!(
            r.len() <= 100 && r.iter().copied().eq(1..=r.len() as i64),
            "ranks of {user}/{source}"
        );
    }

    // Other similarities follow their definitions.
    run_all(
        &input,
        &output,
        &["--set", "similarity=jaccard", "--set", "neighbors=5"],
    );
    for b in read_dir(&output.join(format!("itemcf_sim/dt={D}"))) {
        let (a, nb, sc, c) = (
            col_i64(&b, "anchor_id"),
            col_i64(&b, "neighbor_id"),
            col_f64(&b, "score"),
            col_i64(&b, "cooccurrence"),
        );
        for i in 0..b.num_rows() {
            let want = c[i] as f64 / (n[&a[i]] + n[&nb[i]] - c[i]) as f64;
            assert!((sc[i] - want).abs() < 1e-12);
            assert_eq!(c[i], co[&(a[i], nb[i])]);
        }
    }
    let err = run_err(&[
        "run",
        "itemcf",
        "--date",
        D,
        "--input",
        &s(&input),
        "--output",
        &s(&output),
        "--set",
        "similarity=pearson",
    ]);
    assert!(err.contains("not one of cosine, jaccard, lift"), "{err}");
}

#[test]
fn recall_evaluation_scores_channels_against_the_heat_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 16, 3000, 400, 31);
    run_all(&input, &output, &[]);
    let stdout = run_ok(&[
        "run",
        "eval_recall",
        "--date",
        D,
        "--input",
        &s(&input),
        "--output",
        &s(&output),
    ]);
    assert!(
        stdout.contains("| target") && stdout.contains("itemcf"),
        "{stdout}"
    );
    let json = output.join(format!("metrics/recall/dt={D}.json"));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rows.len(), 2 * 4 * 2, "target x channel x k");
    let keys: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().into(),
                r["channel"].as_str().unwrap().into(),
                r["k"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "metrics rows are not in (target, channel, k) order"
    );
    let get = |target: &str, channel: &str, k: i64, metric: &str| -> f64 {
        rows.iter()
            .find(|r| r["target"] == target && r["channel"] == channel && r["k"] == k)
            .unwrap_or_else(|| panic!("no row {target}/{channel}/{k}"))[metric]
            .as_f64()
            .unwrap()
    };
    for r in &rows {
        for m in ["hr", "recall", "ndcg", "coverage"] {
            let v = r[m].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{m} out of range in {r}");
        }
        assert!(r["hr"].as_f64().unwrap() >= r["ndcg"].as_f64().unwrap() - 1e-12);
    }
    // Metrics grow with K.
    for ch in ["heat", "itemcf", "hot", "follow"] {
        assert!(get("all", ch, 50, "hr") >= get("all", ch, 10, "hr"));
    }
    // Discovery: on anchors the user had not liked yet, item-CF beats the heat ranking.
    let (cf, heat) = (
        get("new", "itemcf", 10, "ndcg"),
        get("new", "heat", 10, "ndcg"),
    );
    assert!(cf > 1.2 * heat, "item-CF NDCG@10 {cf} vs heat {heat}");
    assert!(get("new", "itemcf", 10, "hr") > get("new", "heat", 10, "hr"));
    // Heat recommends the same few anchors to everyone.
    assert!(get("all", "itemcf", 10, "coverage") > 5.0 * get("all", "heat", 10, "coverage"));
}

#[test]
fn iuf_and_time_decay_follow_their_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    generate(&input, 16, 2000, 200, 19);
    run_all(
        &input,
        &output,
        &["--set", "iuf=true", "--set", "half_life_days=3"],
    );

    // Per (user, anchor): watch time and the last day watched, from the raw files.
    let mut last: HashMap<(i64, i64), (i64, u32)> = HashMap::new();
    for day in 2..=15u32 {
        for b in read_dir(&input.join(format!("watches/dt=2026-01-{day:02}"))) {
            let (u, a, d) = (
                col_i64(&b, "user_id"),
                col_i64(&b, "anchor_id"),
                col_f64(&b, "duration_s"),
            );
            for r in 0..b.num_rows() {
                let e = last.entry((u[r], a[r])).or_default();
                e.0 += (d[r] * 1000.0).round() as i64;
                e.1 = e.1.max(day);
            }
        }
    }
    // x_ua = sqrt(1 / ln(1 + likes of u)) * 0.5^((15 - last day) / 3)
    let mut likes: HashMap<i64, Vec<(i64, u32)>> = HashMap::new();
    for ((u, a), (ms, day)) in &last {
        if *ms >= 30_000 {
            likes.entry(*u).or_default().push((*a, *day));
        }
    }
    let mut norm2: HashMap<i64, f64> = HashMap::new();
    let mut dot: HashMap<(i64, i64), (f64, i64)> = HashMap::new();
    for set in likes.values() {
        let iuf = 1.0 / (1.0 + set.len() as f64).ln();
        let x = |day: u32| iuf.sqrt() * 0.5f64.powf((15 - day) as f64 / 3.0);
        for (a, da) in set {
            *norm2.entry(*a).or_default() += x(*da) * x(*da);
            for (b, db) in set {
                if a != b {
                    let e = dot.entry((*a, *b)).or_default();
                    e.0 += x(*da) * x(*db);
                    e.1 += 1;
                }
            }
        }
    }
    let mut expected: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
    for ((a, b), (d, c)) in &dot {
        if *c >= 2 {
            expected
                .entry(*a)
                .or_default()
                .push((*b, d / (norm2[a] * norm2[b]).sqrt()));
        }
    }
    // Every pair's score by the definition, and each anchor's rank-1 score for the check below.
    let mut checked = 0;
    let mut best: HashMap<i64, f64> = HashMap::new();
    for b in read_dir(&output.join(format!("itemcf_sim/dt={D}"))) {
        let (a, nb, sc, r) = (
            col_i64(&b, "anchor_id"),
            col_i64(&b, "neighbor_id"),
            col_f64(&b, "score"),
            col_i64(&b, "rank"),
        );
        for i in 0..b.num_rows() {
            let want = expected[&a[i]].iter().find(|(n, _)| *n == nb[i]).unwrap().1;
            assert!(
                (sc[i] - want).abs() < 1e-6,
                "({}, {}): {} vs {want}",
                a[i],
                nb[i],
                sc[i]
            );
            checked += 1;
            if r[i] == 1 {
                best.insert(a[i], sc[i]);
            }
        }
    }
    assert!(checked > 500, "only {checked} pairs");
    // The top neighbour of each anchor is the best by the definition (up to near-ties).
    for (a, list) in &expected {
        let top = list.iter().map(|x| x.1).fold(f64::MIN, f64::max);
        assert!(
            (best[a] - top).abs() < 1e-6,
            "anchor {a}: best {} vs {top}",
            best[a]
        );
    }
    // Weighting changes the result: the plain run differs.
    let plain = tmp.path().join("plain");
    run_all(&input, &plain, &[]);
    let (x, y) = (
        all_rows(&output, &["itemcf_sim"]),
        all_rows(&plain, &["itemcf_sim"]),
    );
    assert!(x != y);
}
