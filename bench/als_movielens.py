#!/usr/bin/env python3
"""ALS on MovieLens-100k, liverec against `implicit` (docs/benchmarks.md).

Split (the issue's): a like is a rating >= 4; per user, the last 20 % of likes by time
(floor, users with >= 5 likes) are held out, everything else is training data. liverec sees
it through its own pipeline: the training ratings with their timestamps and the held-out
likes re-dated to the day after the last rating are imported as item events, then
`itemcf_items`, `als_items` and `eval_items --set holdout_days=1` run on the last day. implicit's
AlternatingLeastSquares fits the same likes with the same confidences (1 + ln(1 + rating),
liverec's default) and settings; its HR@10 is computed here over the users eval_items
evaluates (held-out likes and training likes), liked items filtered, as eval_items counts.
Both also run with every confidence 1 (liverec: alpha = 0; implicit: a 0/1 matrix, its
plain use).

Usage: bench/als_movielens.py LIVEREC_BINARY WORK_DIR [--seeds 5]
Needs a Python with implicit, numpy, scipy, pyarrow; downloads recbole's wheel from PyPI
for ml-100k.inter (never committed) unless WORK_DIR/ml-100k.inter exists.
"""
import argparse, datetime as dt, glob, os, shutil, subprocess, sys, time, zipfile
import numpy as np, scipy.sparse as sp, pyarrow.parquet as pq
from implicit.cpu.als import AlternatingLeastSquares

SETTINGS = dict(factors=32, regularization=0.05, alpha=1.0, iterations=15)


def movielens(work):
    inter = os.path.join(work, "ml-100k.inter")
    if not os.path.exists(inter):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "recbole==1.2.1", "-d", work], check=True)
        wheel = glob.glob(os.path.join(work, "recbole-*.whl"))[0]
        data = zipfile.ZipFile(wheel).read("recbole/dataset_example/ml-100k/ml-100k.inter")
        open(inter, "wb").write(data)
    rows = []
    with open(inter) as f:
        next(f)
        for line in f:
            u, i, r, t = line.rstrip("\n").split("\t")
            rows.append((int(u), int(i), float(r), int(float(t))))
    return rows


def split(rows):
    """(training rows, held-out likes) of the per-user 20 % split."""
    likes = {}
    for u, i, r, t in rows:
        if r >= 4:
            likes.setdefault(u, []).append((t, i))
    held = set()
    for u, lst in likes.items():
        lst.sort()
        n = len(lst) // 5 if len(lst) >= 5 else 0
        held.update((u, i) for _, i in lst[len(lst) - n:])
    train = [x for x in rows if (x[0], x[1]) not in held]
    heldout = [x for x in rows if (x[0], x[1]) in held]
    return train, heldout


def run(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"liverec {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout + out.stderr


def liverec(binary, work, train, heldout, seeds, alpha):
    last = max(dt.datetime.fromtimestamp(t, dt.timezone.utc).date() for *_, t in train)
    after = int(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(12),
                                    dt.timezone.utc).timestamp())
    source = os.path.join(work, "split.tsv")
    with open(source, "w") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        for u, i, r, t in train:
            f.write(f"{u}\t{i}\t{r}\t{t}\n")
        for u, i, r, _ in heldout:
            f.write(f"{u}\t{i}\t{r}\t{after}\n")
    inp, outp = os.path.join(work, "in"), os.path.join(work, "out")
    for d in (inp, outp):
        shutil.rmtree(d, ignore_errors=True)
    run(binary, "import-interactions", "--source", source, "--input", inp, "--delimiter", "tab",
        "--user-col", "user_id:token", "--item-col", "item_id:token",
        "--time-col", "timestamp:float", "--weight-col", "rating:float")
    day = last.isoformat()
    common = ["--date", day, "--input", inp, "--output", outp, "--set", "like_weight=4"]
    window = f"window_days={(last - dt.date(1997, 9, 1)).days}"
    run(binary, "run", "itemcf_items", *common, "--set", window, "--set", "candidates_per_user=10")
    results = []
    for seed in seeds:
        sets = [window, "candidates_per_user=10", f"seed={seed}"] + \
            [f"{k}={v:g}" for k, v in dict(SETTINGS, alpha=alpha).items()]
        started = time.perf_counter()
        log = run(binary, "run", "als_items", *common, *sum((["--set", s] for s in sets), []))
        seconds = time.perf_counter() - started
        run(binary, "run", "eval_items", *common, "--set", "holdout_days=1")
        t = pq.read_table(os.path.join(outp, "item_recall_metrics", f"dt={day}")).to_pylist()
        hr = {r["channel"]: (r["hr"], r["users"]) for r in t if r["k"] == 10}
        results.append((seed, hr, seconds))
    return results


def implicit_hr(train, heldout, seed, binary_confidence):
    likes = {(u, i): r for u, i, r, _ in train if r >= 4}
    users = sorted({u for u, _ in likes}); items = sorted({i for _, i in likes})
    ui = {u: k for k, u in enumerate(users)}; ii = {i: k for k, i in enumerate(items)}
    keys = list(likes)
    conf = np.array([1.0 if binary_confidence else 1.0 + np.log1p(likes[k]) for k in keys],
                    dtype=np.float32)
    m = sp.csr_matrix((conf, ([ui[u] for u, _ in keys], [ii[i] for _, i in keys])),
                      shape=(len(users), len(items)))
    model = AlternatingLeastSquares(**SETTINGS, use_cg=True, random_state=seed,
                                    calculate_training_loss=False)
    started = time.perf_counter()
    model.fit(m, show_progress=False)
    seconds = time.perf_counter() - started
    truth = {}
    for u, i, r, _ in heldout:
        truth.setdefault(u, set()).add(i)
    evaluated = [u for u in truth if u in ui]
    ids, _ = model.recommend(np.array([ui[u] for u in evaluated]), m[[ui[u] for u in evaluated]],
                             N=10, filter_already_liked_items=True)
    hits = [any(items[j] in truth[u] for j in row if j >= 0) for u, row in zip(evaluated, ids)]
    return sum(hits) / len(hits), len(hits), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("liverec"); ap.add_argument("work")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    train, heldout = split(movielens(a.work))
    print(f"split: {len(train)} training ratings, {len(heldout)} held-out likes")
    seeds = list(range(1, a.seeds + 1))
    # alpha = 0 makes every confidence 1: implicit fitted on a 0/1 matrix (its plain use).
    ours = {}
    for alpha in (1.0, 0.0):
        ours[alpha] = liverec(a.liverec, a.work, train, heldout, seeds, alpha)
        for seed, hr, seconds in ours[alpha]:
            print(f"liverec alpha={alpha:g} seed {seed}: "
                  + ", ".join(f"{c} HR@10 {h:.4f} ({n} users)" for c, (h, n) in sorted(hr.items()))
                  + f"; als_items run {seconds:.2f} s")
        print(f"liverec ALS alpha={alpha:g} mean HR@10 "
              f"{np.mean([hr['als'][0] for _, hr, _ in ours[alpha]]):.4f}")
    for binary in (False, True):
        theirs = [implicit_hr(train, heldout, s, binary) for s in seeds]
        what = "confidence 1" if binary else "confidence 1 + ln(1 + rating)"
        for s, (h, n, sec) in zip(seeds, theirs):
            print(f"implicit ALS ({what}) seed {s}: HR@10 {h:.4f} ({n} users), fit {sec:.2f} s")
        print(f"implicit ALS ({what}) mean HR@10 {np.mean([t[0] for t in theirs]):.4f}")


if __name__ == "__main__":
    main()
