#!/usr/bin/env python3
"""implicit peer for liverec's ALS solver (docs/benchmarks.md): fits implicit's CPU
AlternatingLeastSquares (conjugate gradient) on the same confidences as
`cargo run --release --example als_fit` and prints the fit time.

Usage: bench/als_implicit.py LIKES.parquet [--factors 32] [--regularization 0.05]
                             [--iterations 15] [--cg-steps 3]
LIKES.parquet: user_id, anchor_id, watch_s; confidence 1 + ln(1 + watch_s), passed to
implicit as its confidence (alpha = 1). Needs a Python with implicit, pyarrow, numpy, scipy.
"""
import argparse
import time

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("likes")
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--regularization", type=float, default=0.05)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--cg-steps", type=int, default=3)
    a = ap.parse_args()
    t = pq.read_table(a.likes)
    users, u = np.unique(t["user_id"].to_numpy(), return_inverse=True)
    items, i = np.unique(t["anchor_id"].to_numpy(), return_inverse=True)
    conf = 1.0 + np.log1p(t["watch_s"].to_numpy())
    matrix = sp.csr_matrix((conf.astype(np.float32), (u, i)), shape=(len(users), len(items)))
    model = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization,
                                    alpha=1.0, iterations=a.iterations, use_cg=True,
                                    use_native=True, random_state=1, calculate_training_loss=False)
    model.cg_steps = a.cg_steps
    started = time.perf_counter()
    model.fit(matrix, show_progress=False)
    seconds = time.perf_counter() - started
    print(f"implicit ALS: {len(users)} users x {len(items)} items, {matrix.nnz} likes, "
          f"{a.factors} factors, {a.iterations} iterations: fit {seconds:.2f} s")


if __name__ == "__main__":
    main()
