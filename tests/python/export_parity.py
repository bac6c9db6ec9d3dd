"""Parity of liverec's model exports (model.xgb.json, model.onnx) with the real runtimes,
used by tests/exports.rs.

  prepare SAMPLES_DIR MODEL_DIR OUT_DIR
      writes OUT_DIR/part-0.parquet: the samples, plus a copy with every categorical value
      unseen or missing, plus a copy with numeric values missing in a pattern (new user ids
      keep the keys unique).
  compare MODEL_DIR INPUT_DIR SCORED_FILE
      loads model.xgb.json with xgboost, builds the documented tree input vector from
      model.json and the input rows independently of liverec, predicts, and prints
      "rows=N max_abs_diff=D" against liverec's scores of the same rows.
  compare-onnx MODEL_DIR INPUT_DIR SCORED_FILE
      the same with model.onnx and onnxruntime: one input per feature, [N, 1], double for
      numeric (NaN = missing), string for categorical (empty = missing).
"""
import bisect
import json
import math
import pathlib
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xgboost


def read_dir(path):
    files = sorted(pathlib.Path(path).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def features(model_dir):
    model = json.loads((pathlib.Path(model_dir) / "model.json").read_text())
    return model["features"], {v["feature"]: v for v in model["vocabularies"]}


def prepare(samples_dir, model_dir, out_dir):
    table = read_dir(samples_dir)
    feats, _ = features(model_dir)
    n = table.num_rows
    # Nullable copies of every column, so nulls can be written.
    schema = pa.schema([f.with_nullable(True) for f in table.schema])
    table = table.cast(schema)
    copies = [table]
    unseen = table.set_column(
        table.schema.get_field_index("user_id"), "user_id",
        pc.add(table["user_id"], pa.scalar(10**12, pa.int64())))
    missing = unseen.set_column(
        unseen.schema.get_field_index("user_id"), "user_id",
        pc.add(table["user_id"], pa.scalar(2 * 10**12, pa.int64())))
    for j, f in enumerate(feats):
        i = unseen.schema.get_field_index(f["name"])
        col = unseen[f["name"]]
        if f["kind"] == "categorical":
            values = ["never-seen-%d" % r if r % 2 == 0 else None for r in range(n)]
            unseen = unseen.set_column(i, f["name"], pa.array(values, col.type))
        else:
            keep = pa.array([(r + j) % 3 != 0 for r in range(n)])
            nulls = pa.nulls(n, col.type)
            missing = missing.set_column(
                i, f["name"], pc.if_else(keep, missing[f["name"]], nulls))
    copies += [unseen, missing]
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(copies), out / "part-0.parquet")


def tree_inputs(table, feats, vocabs):
    """The tree input vector of docs/artifacts.md, one column per feature."""
    x = np.empty((table.num_rows, len(feats)), dtype=np.float64)
    for j, f in enumerate(feats):
        values = table[f["name"]].to_pylist()
        if f["kind"] == "numeric":
            x[:, j] = [math.nan if v is None else float(v) for v in values]
        else:
            vocab = vocabs[f["name"]]
            known = vocab["values"]

            def index(v):
                if v is None:
                    return math.nan
                k = bisect.bisect_left(known, v)
                return k if k < len(known) and known[k] == v else vocab["oov_index"]

            x[:, j] = [index(v) for v in values]
    return x


def compare(model_dir, input_dir, scored_file):
    feats, vocabs = features(model_dir)
    table = read_dir(input_dir)
    booster = xgboost.Booster(model_file=str(pathlib.Path(model_dir) / "model.xgb.json"))
    x = tree_inputs(table, feats, vocabs)
    names = [f["name"] for f in feats]
    matrix = xgboost.DMatrix(x, missing=math.nan, feature_names=names,
                             feature_types=booster.feature_types)
    report(table, booster.predict(matrix), scored_file)


def report(table, predicted, scored_file):
    scored = pq.read_table(scored_file)
    liverec = {
        (u, a): p for u, a, p in zip(scored["user_id"].to_pylist(),
                                     scored["anchor_id"].to_pylist(),
                                     scored["score"].to_pylist())
    }
    keys = zip(table["user_id"].to_pylist(), table["anchor_id"].to_pylist())
    diffs = [abs(float(p) - liverec[k]) for k, p in zip(keys, predicted)]
    if len(liverec) != len(diffs):
        sys.exit("liverec scored %d rows, the input has %d" % (len(liverec), len(diffs)))
    print("rows=%d max_abs_diff=%.3e" % (len(diffs), max(diffs)))


def compare_onnx(model_dir, input_dir, scored_file):
    import onnxruntime
    feats, _ = features(model_dir)
    table = read_dir(input_dir)
    session = onnxruntime.InferenceSession(str(pathlib.Path(model_dir) / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    inputs = {}
    for f in feats:
        values = table[f["name"]].to_pylist()
        if f["kind"] == "numeric":
            column = np.array([math.nan if v is None else float(v) for v in values], np.float64)
        else:
            column = np.array(["" if v is None else v for v in values], dtype=object)
        inputs[f["name"]] = column.reshape(-1, 1)
    (predicted,) = session.run(["probability"], inputs)
    report(table, predicted, scored_file)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"prepare": prepare, "compare": compare, "compare-onnx": compare_onnx}[command](*args)
