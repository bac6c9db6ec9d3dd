//! Item-CF on a public data set: MovieLens-100k, fetched at test time from the PyPI wheel of
//! `recbole` (it ships `ml-100k.inter`; the data's licence forbids redistributing it, so it
//! is never committed). Imported as generic item events (rating >= 4 is a like), split by
//! time (the last 81 days held out), run through `itemcf_items`, `als_items` and
//! `eval_items`; the similarity, the ALS candidates (from the written vectors) and every
//! channel's HR@10 are recomputed here from the raw file.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, NaiveDate};
use common::*;

const D: &str = "1998-01-31";
const WINDOW_DAYS: i64 = 200;
const HOLDOUT_DAYS: i64 = 81;
const LIKE: f64 = 4.0;

/// Downloads the recbole wheel (no dependencies) and extracts ml-100k.inter into `dir`.
fn movielens(dir: &Path) -> PathBuf {
    let python = std::env::var("LIVEREC_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet"])
        .args(["--disable-pip-version-check", "recbole==1.2.1", "-d"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip download recbole: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inter = dir.join("ml-100k.inter");
    output_ok(
        Command::new(&python)
            .arg("-c")
            .arg(
                "import glob, sys, zipfile\n\
             wheel = glob.glob(sys.argv[1] + '/recbole-*.whl')[0]\n\
             data = zipfile.ZipFile(wheel).read('recbole/dataset_example/ml-100k/ml-100k.inter')\n\
             open(sys.argv[2], 'wb').write(data)",
            )
            .arg(dir)
            .arg(&inter),
    );
    inter
}

struct Rating {
    user: i64,
    item: i64,
    rating: f64,
    day: NaiveDate,
}

fn parse(inter: &Path) -> Vec<Rating> {
    let text = std::fs::read_to_string(inter).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let ts: i64 = f[3].parse().unwrap();
            Rating {
                user: f[0].parse().unwrap(),
                item: f[1].parse().unwrap(),
                rating: f[2].parse().unwrap(),
                day: DateTime::from_timestamp(ts, 0).unwrap().date_naive(),
            }
        })
        .collect()
}

/// user -> items liked (ratings summing to >= LIKE) among the ratings of days `from..=to`.
fn likes(ratings: &[Rating], from: NaiveDate, to: NaiveDate) -> HashMap<i64, BTreeSet<i64>> {
    let mut sums: HashMap<(i64, i64), f64> = HashMap::new();
    for r in ratings.iter().filter(|r| r.day >= from && r.day <= to) {
        *sums.entry((r.user, r.item)).or_default() += r.rating;
    }
    let mut out: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for ((u, i), s) in sums {
        if s >= LIKE {
            out.entry(u).or_default().insert(i);
        }
    }
    out
}

/// The first 10 of `ranked` that `u` does not like already.
fn top10(ranked: &[i64], liked: &BTreeSet<i64>) -> Vec<i64> {
    ranked
        .iter()
        .filter(|i| !liked.contains(i))
        .take(10)
        .copied()
        .collect()
}

#[test]
fn item_cf_on_movielens_100k_matches_an_independent_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let inter = movielens(tmp.path());
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    let (i, o) = (s(&input), s(&output));
    let printed = run_ok(&[
        "import-interactions",
        "--source",
        &s(&inter),
        "--input",
        &i,
        "--delimiter",
        "tab",
        "--user-col",
        "user_id:token",
        "--item-col",
        "item_id:token",
        "--time-col",
        "timestamp:float",
        "--weight-col",
        "rating:float",
    ]);
    assert!(
        printed.contains("imported 100000 interactions into 213 days 1997-09-20..1998-04-22"),
        "{printed}"
    );
    let run_job = |job: &str, set: &str| {
        run_ok(&[
            "run",
            job,
            "--date",
            D,
            "--input",
            &i,
            "--output",
            &o,
            "--set",
            set,
            "--set",
            &format!("like_weight={LIKE}"),
        ])
    };
    run_job("itemcf_items", &format!("window_days={WINDOW_DAYS}"));
    // implicit's settings of the comparison (docs/benchmarks.md), 10 candidates.
    let mut als = vec![
        "run",
        "als_items",
        "--date",
        D,
        "--input",
        &i,
        "--output",
        &o,
    ];
    let window = format!("window_days={WINDOW_DAYS}");
    let like = format!("like_weight={LIKE}");
    for set in [
        window.as_str(),
        like.as_str(),
        "factors=32",
        "regularization=0.05",
        "alpha=1",
        "iterations=15",
        "candidates_per_user=10",
    ] {
        als.extend(["--set", set]);
    }
    run_ok(&als);
    let report = run_job("eval_items", &format!("holdout_days={HOLDOUT_DAYS}"));

    // Independently: likes in the window, cosine top-50 with co >= 2.
    let ratings = parse(&inter);
    let d: NaiveDate = D.parse().unwrap();
    let train = likes(&ratings, d - chrono::Days::new(WINDOW_DAYS as u64 - 1), d);
    let truth = likes(
        &ratings,
        d + chrono::Days::new(1),
        d + chrono::Days::new(HOLDOUT_DAYS as u64),
    );
    let DirectItemCf {
        n, neighbours: sim, ..
    } = cosine_neighbours(&train, 2, 50);
    let mut got: HashMap<i64, Vec<(i64, f64)>> = HashMap::new();
    for b in read_dir(&output.join(format!("item_sim/dt={D}"))) {
        let (a, nb, sc) = (
            col_i64(&b, "item_id"),
            col_i64(&b, "neighbor_id"),
            col_f64(&b, "score"),
        );
        for r in 0..b.num_rows() {
            got.entry(a[r]).or_default().push((nb[r], sc[r]));
        }
    }
    assert!(sim.len() > 1000, "items with neighbours: {}", sim.len());
    assert_eq!(got.len(), sim.len(), "items with neighbours");
    for (a, want) in &sim {
        let have: Vec<i64> = got[a].iter().map(|x| x.0).collect();
        let want_ids: Vec<i64> = want.iter().map(|x| x.0).collect();
        assert_eq!(have, want_ids, "neighbours of item {a}");
        for (h, w) in got[a].iter().zip(want) {
            assert!((h.1 - w.1).abs() < 1e-12, "score of ({a}, {})", w.0);
        }
    }

    // HR@10 of both channels, from the raw file. Item-CF: sum of similarities over the
    // user's likes (in integer 1e-12 units, as the SQL sums them), liked items left out.
    // Popularity: the most-liked items of the window, the user's own likes left out.
    let mut popularity: Vec<(i64, i64)> = n.iter().map(|(i, c)| (*i, *c)).collect();
    popularity.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let popular: Vec<i64> = popularity.iter().take(200).map(|x| x.0).collect();
    // ALS: each user's 10 best unliked items by the inner product of the written vectors
    // (ties by item id); users and items are exactly those of the window's likes.
    let part = |t: &str| output.join(format!("{t}/dt={D}"));
    let user_vectors = factor_table(&part("item_user_factors"), "user_id");
    let item_vectors = factor_table(&part("item_factors"), "item_id");
    assert_eq!(user_vectors.len(), train.len());
    let liked_items: BTreeSet<i64> = train.values().flatten().copied().collect();
    assert!(item_vectors.keys().copied().eq(liked_items.iter().copied()));
    let als_top = |u: i64| -> Vec<(i64, f32)> {
        let x = &user_vectors[&u];
        let mut scored: Vec<(i64, f32)> = item_vectors
            .iter()
            .filter(|(i, _)| !train[&u].contains(i))
            .map(|(i, y)| (*i, dot_f32(x, y)))
            .collect();
        scored.sort_by(|p, q| q.1.total_cmp(&p.1).then(p.0.cmp(&q.0)));
        scored.truncate(10);
        scored
    };
    let mut written: HashMap<i64, Vec<(i64, i64, f32)>> = HashMap::new();
    for b in read_dir(&part("item_candidates")) {
        let (u, it, src) = (
            col_i64(&b, "user_id"),
            col_i64(&b, "item_id"),
            col_str(&b, "source"),
        );
        let (score, rank) = (col_f64(&b, "score"), col_i64(&b, "rank"));
        for r in (0..b.num_rows()).filter(|r| src[*r].as_deref() == Some("als")) {
            written
                .entry(u[r])
                .or_default()
                .push((rank[r], it[r], score[r] as f32));
        }
    }
    assert_eq!(
        written.len(),
        train.len(),
        "an als list per user with likes"
    );
    for (u, list) in &mut written {
        list.sort_by_key(|x| x.0);
        let got: Vec<(i64, f32)> = list.iter().map(|x| (x.1, x.2)).collect();
        assert_eq!(got, als_top(*u), "als candidates of user {u}");
    }

    let mut hits: HashMap<&str, Vec<f64>> = HashMap::new();
    for (u, held) in &truth {
        let Some(liked) = train.get(u) else { continue };
        let popular_top = top10(&popular, liked);
        if popular_top.is_empty() {
            continue; // no popular candidates: not evaluated (as in the SQL)
        }
        let mut scores: HashMap<i64, i64> = HashMap::new();
        for a in liked {
            for (b, s, _) in sim.get(a).map(Vec::as_slice).unwrap_or_default() {
                *scores.entry(*b).or_default() += (s * 1e12).round() as i64;
            }
        }
        let mut ranked: Vec<(i64, i64)> = scores.into_iter().collect();
        ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let ranked: Vec<i64> = ranked.into_iter().map(|x| x.0).collect();
        let itemcf_top = top10(&ranked, liked);
        let hit = |top: &[i64]| f64::from(u8::from(top.iter().any(|i| held.contains(i))));
        hits.entry("itemcf").or_default().push(hit(&itemcf_top));
        hits.entry("popular").or_default().push(hit(&popular_top));
        let als: Vec<i64> = als_top(*u).into_iter().map(|x| x.0).collect();
        hits.entry("als").or_default().push(hit(&als));
    }
    let users = hits["popular"].len();
    assert!(users > 100, "evaluated users: {users}");

    let mut measured: HashMap<String, (i64, f64)> = HashMap::new();
    for b in read_dir(&output.join(format!("item_recall_metrics/dt={D}"))) {
        let (c, k, u, hr) = (
            col_str(&b, "channel"),
            col_i64(&b, "k"),
            col_i64(&b, "users"),
            col_f64(&b, "hr"),
        );
        for r in 0..b.num_rows() {
            if k[r] == 10 {
                measured.insert(c[r].clone().unwrap(), (u[r], hr[r]));
            }
        }
    }
    let unique: HashSet<usize> = hits.values().map(Vec::len).collect();
    assert_eq!(unique.len(), 1);
    for channel in ["itemcf", "popular", "als"] {
        let v = &hits[channel];
        let want = v.iter().sum::<f64>() / v.len() as f64;
        let (u, hr) = measured[channel];
        assert_eq!(u as usize, users, "{channel} users");
        assert!((hr - want).abs() < 1e-8, "{channel} HR@10 {hr} != {want}");
        eprintln!("MovieLens-100k HR@10 {channel}: {hr:.4} over {u} users");
    }
    assert!(
        report.contains("itemcf") && report.contains("popular") && report.contains("als"),
        "{report}"
    );

    // Ad-hoc SQL sees the imported events and the generic outputs.
    let counted = run_ok(&[
        "sql",
        "--input",
        &i,
        "--output",
        &o,
        "-e",
        "SELECT (SELECT count(*) FROM item_events) AS events, (SELECT count(*) FROM item_sim) AS sims",
    ]);
    let sims: usize = got.values().map(Vec::len).sum();
    assert!(counted.contains(&format!("| 100000 | {sims}")), "{counted}");
}
