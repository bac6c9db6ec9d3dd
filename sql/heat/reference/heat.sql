-- The heat ranking of sql/heat/heat.sql, written the way DuckDB runs it fastest: the DuckDB
-- peer (bench/duckdb_peer.py) runs this file, and tests/heat.rs runs it through the job and
-- requires the same rows as the job's query. Each (anchor, user) ORs its role bits, and a
-- second aggregation counts each bit per anchor (DuckDB: 17 ms warm on medium, against 22 ms
-- for heat.sql's three distinct counts; liverec: the other way round, docs/benchmarks.md).
WITH events AS (
    SELECT anchor_id, user_id, 1 AS role
    FROM watches
    WHERE dt = $date
    UNION ALL
    SELECT anchor_id, user_id, CASE WHEN kind = 'gift' THEN 2 ELSE 4 END AS role
    FROM interactions
    WHERE dt = $date AND kind IN ('gift', 'comment', 'like', 'share', 'follow')
),
user_roles AS (
    -- Bit 1: watched; 2: sent a gift; 4: commented, liked, shared or followed.
    SELECT anchor_id, user_id, bit_or(role) AS roles FROM events GROUP BY anchor_id, user_id
),
counts AS (
    SELECT
        anchor_id,
        SUM(roles & 1) AS viewers,
        SUM((roles & 2) >> 1) AS gifters,
        SUM((roles & 4) >> 2) AS interactors
    FROM user_roles
    GROUP BY anchor_id
),
weighted AS (
    SELECT
        c.anchor_id,
        COALESCE(s.category, 'unknown') AS category,
        c.viewers, c.gifters, c.interactors,
        CAST(c.viewers AS DOUBLE) * $w_viewers
            + CAST(c.gifters AS DOUBLE) * $w_gifters
            + CAST(c.interactors AS DOUBLE) * $w_interactors AS heat
    FROM counts c
    LEFT JOIN anchors s ON s.anchor_id = c.anchor_id AND s.dt = $date
)
SELECT
    anchor_id,
    category,
    viewers,
    gifters,
    interactors,
    heat,
    ROW_NUMBER() OVER (ORDER BY heat DESC, anchor_id) AS rank,
    ROW_NUMBER() OVER (PARTITION BY category ORDER BY heat DESC, anchor_id) AS category_rank
FROM weighted
ORDER BY rank
