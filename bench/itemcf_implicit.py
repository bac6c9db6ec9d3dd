#!/usr/bin/env python3
"""Item-CF peer for docs/benchmarks.md: the `implicit` package's item-item cosine
(CosineRecommender, a sparse user x item matrix product in C++) on the same interactions
liverec's item-CF uses, compared with liverec's itemcf_sim for the same day.

Usage: bench/itemcf_implicit.py INPUT_ROOT LIVEREC_OUTPUT_ROOT DAY [--window 14] [--k 50]

The likes (user watched the anchor >= 30 s in total over the window) are computed with
liverec's own sql/itemcf/likes.sql in DuckDB, then timed separately from the similarity.
Run liverec with `--set min_cooccurrence=1` for identical top-K: implicit keeps pairs seen
once. Neighbour lists are compared per anchor as sets of neighbour ids (the two break ties
differently, so a tie at rank K can swap a neighbour), and scores of common pairs by their
largest difference (implicit computes in float32).
"""
import argparse, datetime as dt, os, sys, time
import numpy as np, scipy.sparse as sp, duckdb, pyarrow.parquet as pq
from implicit.nearest_neighbours import CosineRecommender

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from duckdb_peer import bind, sql_file, table, day_params  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input"); ap.add_argument("liverec_output"); ap.add_argument("day")
    ap.add_argument("--window", type=int, default=14); ap.add_argument("--k", type=int, default=50)
    a = ap.parse_args()
    day = dt.date.fromisoformat(a.day)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    table(con, "watches", a.input, "watches", day - dt.timedelta(days=a.window - 1), day)
    p = dict(day_params(day, 7), like_threshold_s=30.0, max_items_per_user=0, iuf=False,
             half_life_days=0.0)
    t0 = time.perf_counter()
    likes = con.execute(f"SELECT user_id, anchor_id FROM ({bind(sql_file('itemcf/likes.sql'), p)})").fetchnumpy()
    likes_s = time.perf_counter() - t0
    users, uidx = np.unique(likes["user_id"], return_inverse=True)
    items, iidx = np.unique(likes["anchor_id"], return_inverse=True)
    m = sp.csr_matrix((np.ones(len(uidx), dtype=np.float32), (uidx, iidx)), shape=(len(users), len(items)))
    t0 = time.perf_counter()
    model = CosineRecommender(K=a.k + 1)  # +1: implicit counts the item itself
    model.fit(m, show_progress=False)
    fit_s = time.perf_counter() - t0
    sim = model.similarity.tocoo()
    theirs = {}
    for i, j, v in zip(sim.row, sim.col, sim.data):
        if i != j:
            theirs.setdefault(int(items[i]), {})[int(items[j])] = float(v)
    ours = {}
    t = pq.read_table(os.path.join(a.liverec_output, "itemcf_sim", f"dt={day}")).to_pydict()
    for x, y, s in zip(t["anchor_id"], t["neighbor_id"], t["score"]):
        ours.setdefault(int(x), {})[int(y)] = float(s)
    same = sum(1 for k in ours if set(ours[k]) == set(theirs.get(k, {})))
    # Where the sets differ, are the swapped neighbours all tied with the K-th score?
    ties_only = 0
    for k in ours:
        mine, other = ours[k], theirs.get(k, {})
        if set(mine) == set(other):
            continue
        kth = min(mine.values())
        swapped = [mine.get(n, other.get(n)) for n in set(mine) ^ set(other)]
        if all(abs(v - kth) < 1e-9 for v in swapped):
            ties_only += 1
    diffs = [abs(v - theirs[k][n]) for k in ours for n, v in ours[k].items() if n in theirs.get(k, {})]
    print({"likes": len(uidx), "users": len(users), "anchors": len(items),
           "likes_seconds": round(likes_s, 3), "implicit_fit_seconds": round(fit_s, 3),
           "anchors_compared": len(ours), "anchors_with_neighbours_in_implicit": len(theirs),
           "identical_neighbour_sets": same, "differing_only_by_ties_at_rank_k": ties_only, "max_score_difference": max(diffs) if diffs else None})


if __name__ == "__main__":
    main()
