#!/usr/bin/env python3
"""scikit-learn peer for liverec's logistic regressions (docs/benchmarks.md): fits
`LogisticRegression(solver="lbfgs")` on the same design matrices liverec fits — the LR
model's standardized numeric + one-hot inputs, and GBDT+LR's one-hot tree leaves — with the
same objective (C = 1 / l2: summed log loss + 0.5 * l2 * |w|^2, intercept not penalized) and
iteration cap, and prints fit time and validation AUC of each.

Usage: bench/lr_sklearn.py OUTPUT_ROOT END_DATE [--l2 1] [--max-iter 50]

OUTPUT_ROOT holds the training set ending END_DATE and the models trained on it
(models/lr/LATEST and models/gbdt_lr/LATEST). The designs are rebuilt here from model.json
and the samples, independently of liverec: numeric z = (slog1p(x) - mean) / std (missing
→ 0), one column per vocabulary value plus one out-of-vocabulary column; for GBDT+LR the
leaf each row reaches in every tree, from model.xgb.json through xgboost's `pred_leaf`.
Needs a Python with scikit-learn, scipy, xgboost, pyarrow and numpy.
"""
import argparse
import json
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def latest(root, model):
    folder = os.path.join(root, "models", model)
    with open(os.path.join(folder, "LATEST")) as f:
        return os.path.join(folder, f.read().strip())


def read(root, days, cols):
    return pa.concat_tables(
        [pq.read_table(os.path.join(root, "samples", f"dt={d}"), columns=cols) for d in days])


def codes(table, model):
    """Per categorical feature: the vocabulary index of every row (unseen or null → oov)."""
    out = []
    for v in model["vocabularies"]:
        index = {value: i for i, value in enumerate(v["values"])}
        out.append(np.array([index.get(x, v["oov_index"]) if x is not None else v["oov_index"]
                             for x in table.column(v["feature"]).to_pylist()]))
    return out


def lr_design(table, model):
    cols = []
    for t in model["numeric_transforms"]:
        x = np.asarray(table.column(t["feature"]).to_numpy(zero_copy_only=False), np.float64)
        z = (np.sign(x) * np.log1p(np.abs(x)) - t["mean"]) / t["std"]
        cols.append(np.where(np.isnan(x), 0.0, z))
    for v, c in zip(model["vocabularies"], codes(table, model)):
        onehot = np.zeros((table.num_rows, v["oov_index"] + 1))
        onehot[np.arange(table.num_rows), c] = 1.0
        cols.append(onehot)
    return np.column_stack(cols)


def tree_inputs(table, model):
    by_name = dict(zip([v["feature"] for v in model["vocabularies"]], codes(table, model)))
    cols = []
    for f in model["features"]:
        if f["kind"] == "numeric":
            cols.append(np.asarray(table.column(f["name"]).to_numpy(zero_copy_only=False), np.float64))
        else:
            missing = np.array([x is None for x in table.column(f["name"]).to_pylist()])
            cols.append(np.where(missing, np.nan, by_name[f["name"]].astype(np.float64)))
    return np.column_stack(cols)


def leaf_ids(table, model, booster):
    """The leaf (node id) each row reaches in every tree: rows x trees."""
    x = tree_inputs(table, model)
    matrix = xgboost.DMatrix(x, missing=np.nan, feature_names=booster.feature_names,
                             feature_types=booster.feature_types)
    return booster.predict(matrix, pred_leaf=True).astype(np.int64)


def onehot_leaves(leaves, vocab=None):
    """CSR one-hot of (tree, leaf); `vocab` (per tree, the sorted leaf ids of the training
    rows) is built from the rows given when None."""
    if vocab is None:
        vocab = [np.unique(leaves[:, t]) for t in range(leaves.shape[1])]
    offsets = np.cumsum([0] + [len(v) for v in vocab])
    rows, cols = [], []
    for t, v in enumerate(vocab):
        pos = np.minimum(np.searchsorted(v, leaves[:, t]), len(v) - 1)
        hit = v[pos] == leaves[:, t]
        rows.append(np.nonzero(hit)[0])
        cols.append(offsets[t] + pos[hit])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(leaves.shape[0], offsets[-1]))
    return m, vocab


def fit(name, x_train, y_train, x_valid, y_valid, l2, max_iter):
    lr = LogisticRegression(C=1.0 / l2, solver="lbfgs", max_iter=max_iter, tol=1e-4)
    started = time.perf_counter()
    lr.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    auc = roc_auc_score(y_valid, lr.predict_proba(x_valid)[:, 1])
    print(f"{name}: {x_train.shape[0]} rows x {x_train.shape[1]} inputs, "
          f"fit {seconds:.2f} s ({lr.n_iter_[0]} iterations), validation AUC {auc:.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output_root")
    ap.add_argument("end")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--max-iter", type=int, default=50)
    a = ap.parse_args()
    with open(os.path.join(a.output_root, "training_sets", f"end={a.end}", "manifest.json")) as f:
        ts = json.load(f)

    folder = latest(a.output_root, "lr")
    with open(os.path.join(folder, "model.json")) as f:
        model = json.load(f)
    cols = ["label"] + [f["name"] for f in model["features"]]
    train = read(a.output_root, ts["train_days"], cols)
    valid = read(a.output_root, [ts["validation_day"]], cols)
    y_train = train.column("label").to_numpy() == 1
    y_valid = valid.column("label").to_numpy() == 1
    fit("LR (dense design)", lr_design(train, model), y_train, lr_design(valid, model), y_valid,
        a.l2, a.max_iter)

    folder = latest(a.output_root, "gbdt_lr")
    with open(os.path.join(folder, "model.json")) as f:
        model = json.load(f)
    booster = xgboost.Booster(model_file=os.path.join(folder, "model.xgb.json"))
    x_train, vocab = onehot_leaves(leaf_ids(train, model, booster))
    x_valid, _ = onehot_leaves(leaf_ids(valid, model, booster), vocab)
    fit("GBDT+LR's LR (sparse leaf design)", x_train, y_train, x_valid, y_valid, a.l2, a.max_iter)


if __name__ == "__main__":
    main()
