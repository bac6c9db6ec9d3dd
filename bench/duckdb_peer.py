#!/usr/bin/env python3
"""DuckDB peer for liverec's benchmarks: runs the same queries (liverec's own sql/ files) over
the same Parquet and times them, so docs/benchmarks.md can compare like with like.

Usage: bench/duckdb_peer.py INPUT_ROOT OUT_DIR END_DATE [--label-days 7] [--profile-days 7]

Run with any Python 3: without the duckdb package it installs duckdb from PyPI into a venv
($LIVEREC_PEER_VENV, default ~/.cache/liverec-peer-venv) and reruns itself there.

Jobs: heat of END_DATE; profiles + samples of the label days up to END_DATE (the training
set); item-CF similarity (14-day window, cosine, K = 50) of END_DATE. Prints JSON with
seconds and row counts (and item-CF sums, to check the same work was done).

What differs from liverec, on purpose and documented: DuckDB has no liverec UDFs, so
`sample_unit(...)` becomes DuckDB's `hash(...)` (only matters with neg_sample_rate < 1; the
default 1.0 keeps every negative in both), `latest_k(v, ts, k)` becomes its SQL definition
`array_slice(array_agg(v ORDER BY ts DESC, v), 1, k)`, and the data-quality checks are not run. Parameters
are inlined as typed literals because DuckDB views take no prepared parameters.
"""
import argparse, datetime as dt, json, os, re, resource, subprocess, sys, time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

try:
    import duckdb
except ImportError:
    # No duckdb in this Python: install it from PyPI into a venv of our own (once) and run
    # this script again with that venv's Python.
    venv = os.environ.get("LIVEREC_PEER_VENV") or os.path.join(
        os.path.expanduser("~"), ".cache", "liverec-peer-venv")
    python = os.path.join(venv, "bin", "python")
    if os.environ.get("LIVEREC_PEER_BOOTSTRAPPED"):
        sys.exit(f"duckdb is still missing in {venv}")
    if not os.path.exists(python):
        print(f"installing duckdb into {venv}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
    subprocess.check_call([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "duckdb"],
                          stdout=sys.stderr)
    os.environ["LIVEREC_PEER_BOOTSTRAPPED"] = "1"
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])

def sql_file(rel):
    with open(os.path.join(ROOT, "sql", rel)) as f:
        return f.read()

def literal(v):
    if isinstance(v, dt.datetime):
        return f"TIMESTAMPTZ '{v.isoformat()}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str) and v.isidentifier():
        return f"'{v}'"
    raise TypeError(v)

def bind(sql, params):
    sql = re.sub(r"sample_unit\(([^)]*)\)", r"((hash(\1) % 1000000) / 1000000.0)", sql)
    # latest_k (a liverec UDAF) by its SQL definition.
    sql = re.sub(r"latest_k\((\w+), (\w+), (\$\w+)\)", r"array_slice(array_agg(\1 ORDER BY \2 DESC, \1), 1, \3)", sql)
    return re.sub(r"\$(\w+)", lambda m: literal(params[m.group(1)]), sql)

# liverec's output root, when given: input days with quarantined rows are read from their
# cleaned copies there (<out>/cleaned/<table>/dt=D), as the liverec jobs read them, so both
# sides do the same work on the same rows.
CLEANED = {"input": None, "output": None}

def day_paths(root, table_name, lo, hi):
    paths = []
    day = lo
    while day <= hi:
        part = f"dt={day.isoformat()}"
        cleaned = os.path.join(CLEANED["output"], "cleaned", table_name, part)
        if os.path.isdir(cleaned):
            paths.append(f"{cleaned}/*.parquet")
        elif os.path.isdir(os.path.join(root, table_name, part)):
            paths.append(f"{root}/{table_name}/{part}/*.parquet")
        day += dt.timedelta(days=1)
    return paths

def table(con, name, root, table_name, lo, hi, latest=False):
    src = f"read_parquet('{root}/{table_name}/*/*.parquet', hive_partitioning = true)"
    paths = day_paths(root, table_name, lo, hi) if CLEANED["output"] and root == CLEANED["input"] else []
    if paths:
        files = ", ".join(f"'{p}'" for p in paths)
        src = f"read_parquet([{files}], hive_partitioning = true)"
    if latest:
        cond = f"dt = (SELECT max(dt) FROM {src} WHERE dt BETWEEN {literal(lo)} AND {literal(hi)})"
    else:
        cond = f"dt BETWEEN {literal(lo)} AND {literal(hi)}"
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {src} WHERE {cond}")

def write(con, sql, out, table_name, day):
    path = os.path.join(out, table_name, f"dt={day.isoformat()}")
    os.makedirs(path, exist_ok=True)
    con.execute(f"COPY ({sql}) TO '{path}/part-00000.parquet' (FORMAT PARQUET)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{path}/part-00000.parquet')").fetchone()[0]

def day_params(day, profile_days):
    start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    return {
        "date": day, "day_start": start, "day_end": start + dt.timedelta(days=1),
        "profile_days": profile_days, "bounce_s": 2.0, "long_watch_s": 30.0, "last_k": 5,
        "pos_threshold_s": 30.0, "neg_threshold_s": 2.0, "neg_sample_rate": 1.0, "sample_seed": 1,
        "w_viewers": 1.0, "w_gifters": 5.0, "w_interactors": 2.0,
    }

def heat(con, root, out, day):
    p = day_params(day, 7)
    for t in ["watches", "interactions", "anchors"]:
        table(con, t, root, t, day, day)
    # The same ranking in the form DuckDB runs fastest (liverec's heat.sql form is slower here).
    return {"heat": write(con, bind(sql_file("heat/reference/heat.sql"), p), out, "heat", day)}

def profiles_and_samples(con, root, out, day, n):
    p = day_params(day, n)
    lo, hi = day - dt.timedelta(days=n), day - dt.timedelta(days=1)
    for t in ["watches", "interactions", "exposures"]:
        table(con, t, root, t, lo, hi)
    for t in ["users", "anchors"]:
        table(con, t, root, t, lo, hi, latest=True)
    rows = {}
    for view, f in [("feature_watches", "watches_before"), ("feature_interactions", "interactions_before"),
                    ("feature_exposures", "exposures_before")]:
        con.execute(f"CREATE OR REPLACE VIEW {view} AS {bind(sql_file(f'profiles/reference/{f}.sql'), p)}")
    for t in ["user_profile", "anchor_profile", "user_anchor_profile", "user_category_profile"]:
        rows[t] = write(con, bind(sql_file(f"profiles/reference/{t}.sql"), p), out, t, day)
    for t in ["watches", "exposures", "interactions"]:
        table(con, t, root, t, day, day)
    for t in ["user_profile", "anchor_profile", "user_anchor_profile", "user_category_profile"]:
        table(con, t, out, t, day, day)
    for view in ["label_pairs", "exposure_pairs", "pair_features"]:
        con.execute(f"CREATE OR REPLACE VIEW {view} AS {bind(sql_file(f'samples/{view}.sql'), p)}")
    for t in ["samples", "exposure_samples"]:
        rows[t] = write(con, bind(sql_file(f"samples/{t}.sql"), p), out, t, day)
    return rows

def itemcf(con, root, out, day, window=14):
    """The whole item-CF job: likes, co-occurrence, similarity, and the candidate channels."""
    p = dict(day_params(day, 7), like_threshold_s=30.0, max_items_per_user=0, min_cooccurrence=2,
             iuf=False, half_life_days=0.0,
             similarity="cosine", neighbors=50, exclude_liked=True, candidates_per_user=100)
    lo = day - dt.timedelta(days=window - 1)
    for t in ["watches", "interactions"]:
        table(con, t, root, t, lo, day)
    table(con, "anchors", root, "anchors", lo, day, latest=True)
    table(con, "heat", out, "heat", day, day)
    # The raw-row likes (liverec sums its daily watch tiles to the same values).
    con.execute(f"CREATE OR REPLACE TABLE likes AS {bind(sql_file('itemcf/reference/likes.sql'), p)}")
    # candidates.sql counts watch days per pair, which liverec reads from its tiles: the raw
    # watches have the same (user, anchor, dt) keys.
    con.execute("CREATE OR REPLACE VIEW tile_watches AS SELECT user_id, anchor_id, dt FROM watches")
    # The plain-SQL definition of what liverec computes with its item_neighbours UDAF.
    con.execute(f"CREATE OR REPLACE TABLE sim AS {bind(sql_file('itemcf/reference/sim.sql'), p)}")
    rows = write(con, bind(sql_file("itemcf/sim_output.sql"), p), out, "itemcf_sim", day)
    # Likewise for the itemcf channel (liverec: the itemcf_candidates UDAF).
    con.execute(f"CREATE OR REPLACE VIEW itemcf_channel AS {bind(sql_file('itemcf/reference/itemcf_channel.sql'), p)}")
    candidates = write(con, bind(sql_file("itemcf/candidates.sql"), p), out, "candidates", day)
    # The pairs the co-occurrence goes through: sum over users of likes * (likes - 1).
    pairs = con.execute("SELECT SUM(n * (n - 1)) FROM (SELECT COUNT(*) AS n FROM likes GROUP BY user_id)").fetchone()
    sims = con.execute(f"SELECT sum(cooccurrence), round(sum(score), 6) FROM read_parquet('{out}/itemcf_sim/dt={day.isoformat()}/*.parquet')").fetchone()
    return {"itemcf_sim": rows, "candidates": candidates, "pairs": int(pairs[0] or 0),
            "sum_cooccurrence": int(sims[0] or 0), "sum_score": float(sims[1] or 0)}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input"); ap.add_argument("out"); ap.add_argument("end")
    ap.add_argument("--label-days", type=int, default=7)
    ap.add_argument("--profile-days", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--cleaned", help="liverec's output root: read its cleaned copies of input days")
    a = ap.parse_args()
    if a.cleaned:
        CLEANED["input"], CLEANED["output"] = a.input, a.cleaned
    end = dt.date.fromisoformat(a.end)
    report = {"duckdb": duckdb.__version__, "threads": a.threads, "jobs": {}}

    def connect():
        # A fresh database per job (each liverec job is a process of its own).
        con = duckdb.connect()
        con.execute(f"SET threads = {a.threads}")
        con.execute("SET TimeZone = 'UTC'")
        return con

    def training_set(con):
        totals = {}
        for k in range(a.label_days - 1, -1, -1):
            for t, n in profiles_and_samples(con, a.input, a.out, end - dt.timedelta(days=k), a.profile_days).items():
                totals[t] = totals.get(t, 0) + n
        return totals

    jobs = [("heat", lambda con: heat(con, a.input, a.out, end)),
            ("training_set", training_set),
            ("itemcf", lambda con: itemcf(con, a.input, a.out, end))]
    for name, job in jobs:
        con = connect()
        t0 = time.perf_counter()
        rows = job(con)
        report["jobs"][name] = {"rows": rows, "seconds": round(time.perf_counter() - t0, 4)}
        con.close()
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    json.dump(report, sys.stdout, indent=2)
    print()

if __name__ == "__main__":
    main()
