#!/usr/bin/env python3
"""Item-CF peer for docs/benchmarks.md: the `implicit` package's item-item cosine
(CosineRecommender, a sparse user x item matrix product in C++) on the same interactions
liverec's item-CF uses, compared with liverec's itemcf_sim for the same day.

Usage: bench/itemcf_implicit.py INPUT_ROOT LIVEREC_OUTPUT_ROOT DAY [--window 14] [--k 50]

The likes (user watched the anchor >= 30 s in total over the window) are computed with
liverec's raw-row sql/itemcf/reference/likes.sql in DuckDB, then timed separately from the similarity;
implicit's time is building the sparse matrix from them plus its fit (liverec's comparable
figure is the `materialized sql/itemcf/neighbours.sql` line of its run log).
Run liverec with `--set min_cooccurrence=1`: implicit keeps pairs seen once. Neighbour
lists are compared per anchor in rank order, implicit's ranked by liverec's rule (score
descending, ties by neighbour id; its scores rounded to 1e-12 for that, which merges equal cosines
that its arithmetic rounds differently), and scores by
their largest difference.
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
    likes = con.execute(f"SELECT user_id, anchor_id FROM ({bind(sql_file('itemcf/reference/likes.sql'), p)})").fetchnumpy()
    likes_s = time.perf_counter() - t0
    # implicit's similarity from the same likes: the sparse user x item matrix, then its fit.
    t0 = time.perf_counter()
    users, uidx = np.unique(likes["user_id"], return_inverse=True)
    items, iidx = np.unique(likes["anchor_id"], return_inverse=True)
    m = sp.csr_matrix((np.ones(len(uidx), dtype=np.float32), (uidx, iidx)), shape=(len(users), len(items)))
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = CosineRecommender(K=a.k + 1)  # +1: implicit counts the item itself
    model.fit(m, show_progress=False)
    fit_s = time.perf_counter() - t0
    # For the comparison (not timed): every neighbour, ranked by the rule -- score
    # descending, ties by neighbour id -- with scores rounded to 1e-12, since pairs with equal
    # exact cosines (2 / sqrt(4n) and 1 / sqrt(n)) can differ in implicit's last bits.
    full = CosineRecommender(K=len(items))
    full.fit(m, show_progress=False)
    sim = full.similarity.tocoo()
    theirs = {}
    for i, j, v in zip(sim.row, sim.col, sim.data):
        if i != j:
            theirs.setdefault(int(items[i]), []).append((-round(float(v), 12), int(items[j]), float(v)))
    for lst in theirs.values():
        lst.sort()
    ours = {}
    t = pq.read_table(os.path.join(a.liverec_output, "itemcf_sim", f"dt={day}")).to_pydict()
    for x, y, s, r in zip(t["anchor_id"], t["neighbor_id"], t["score"], t["rank"]):
        ours.setdefault(int(x), []).append((int(r), int(y), float(s)))
    same_lists = 0
    max_diff = 0.0
    for anchor, mine in ours.items():
        mine.sort()
        other = theirs.get(anchor, [])[: a.k]
        if [n for _, n, _ in mine] == [n for _, n, _ in other]:
            same_lists += 1
        for (_, _, s1), (_, _, s2) in zip(mine, other):
            max_diff = max(max_diff, abs(s1 - s2))
    print({"likes": len(uidx), "users": len(users), "anchors": len(items),
           "likes_seconds": round(likes_s, 3), "implicit_matrix_seconds": round(build_s, 3),
           "implicit_fit_seconds": round(fit_s, 3),
           "implicit_total_seconds": round(build_s + fit_s, 3),
           "anchors_compared": len(ours), "anchors_with_neighbours_in_implicit": len(theirs),
           "identical_top_k_lists": same_lists, "max_score_difference": max_diff})

if __name__ == "__main__":
    main()
