#!/usr/bin/env python3
"""LightGBM peer for the GBDT benchmark (docs/benchmarks.md): trains LightGBM on the same
training set liverec trained on (the samples Parquet of the training set's days, the feature
list of jobs/train.toml) with the same hyper-parameters, and prints validation AUC and time.

Usage: bench/gbdt_lightgbm.py OUTPUT_ROOT END_DATE [--trees 200] [--depth 6] [--leaves 32]

Needs a Python with lightgbm, pyarrow, numpy (scripts/bench-venv installs them into
$HOME/.cache/liverec-bench-venv). Categorical features are encoded as liverec encodes them
for its trees (index in the sorted vocabulary of values seen >= 5 times; unseen = len;
null = missing) and also, in a second run, as LightGBM native categoricals.
"""
import argparse, json, os, time, tomllib
import numpy as np
import pyarrow.parquet as pq
import lightgbm as lgb

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def auc(p, y):
    order = np.argsort(-p, kind="mergesort")
    p, y = p[order], y[order]
    tp = fp = area = 0.0
    i = 0
    n = len(p)
    while i < n:
        j = i
        gtp = gfp = 0.0
        while j < n and p[j] == p[i]:
            if y[j] == 1:
                gtp += 1
            else:
                gfp += 1
            j += 1
        area += gfp * (tp + gtp / 2)
        tp += gtp
        fp += gfp
        i = j
    return area / (tp * fp)


def read(root, days, cols):
    tables = [pq.read_table(os.path.join(root, "samples", f"dt={d}"), columns=cols) for d in days]
    import pyarrow as pa
    return pa.concat_tables(tables)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output_root")
    ap.add_argument("end")
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--leaves", type=int, default=32)
    a = ap.parse_args()
    with open(os.path.join(ROOT, "jobs", "train.toml"), "rb") as f:
        feats = tomllib.load(f)["features"]
    num, cat = feats["numeric"], feats["categorical"]
    with open(os.path.join(a.output_root, "training_sets", f"end={a.end}", "manifest.json")) as f:
        m = json.load(f)
    cols = ["label"] + num + cat
    train = read(a.output_root, m["train_days"], cols)
    valid = read(a.output_root, [m["validation_day"]], cols)

    vocab = {}
    for c in cat:
        vals = [v for v in train.column(c).to_pylist()]
        counts = {}
        for v in vals:
            if v is not None:
                counts[v] = counts.get(v, 0) + 1
        vocab[c] = {v: i for i, v in enumerate(sorted(k for k, n in counts.items() if n >= 5))}

    def matrix(t):
        out = [np.asarray(t.column(c).to_numpy(zero_copy_only=False), dtype=np.float64) for c in num]
        for c in cat:
            voc = vocab[c]
            out.append(np.array([np.nan if v is None else voc.get(v, len(voc)) for v in t.column(c).to_pylist()]))
        return np.column_stack(out)

    xt, xv = matrix(train), matrix(valid)
    yt = np.asarray(train.column("label").to_numpy(), dtype=np.float64)
    yv = np.asarray(valid.column("label").to_numpy(), dtype=np.float64)
    print(f"rows: train {len(yt)}, validation {len(yv)}; {xt.shape[1]} features")
    params = dict(objective="binary", learning_rate=0.1, num_leaves=a.leaves, max_depth=a.depth,
                  min_sum_hessian_in_leaf=1.0, min_data_in_leaf=1, max_bin=255, lambda_l2=1.0,
                  num_threads=os.cpu_count(), verbose=-1, seed=1)
    for name, categorical in [("liverec encoding", []), ("native categoricals", list(range(len(num), len(num) + len(cat))))]:
        t0 = time.perf_counter()
        ds = lgb.Dataset(xt, yt, categorical_feature=categorical or "auto", free_raw_data=False)
        booster = lgb.train(params, ds, num_boost_round=a.trees)
        secs = time.perf_counter() - t0
        p = booster.predict(xv)
        print(json.dumps({"lightgbm": lgb.__version__, "categoricals": name, "auc": round(auc(p, yv), 4), "train_seconds": round(secs, 2)}))


if __name__ == "__main__":
    main()
