-- The reference definition of the itemcf channel in plain SQL: each user's top
-- $candidates_per_user candidates (user_id, anchor_id, source, score, rank), score(u, b) =
-- sum over items (anchors) a that u likes of sim(a, b), over a's top neighbours; items u
-- already likes left out when $exclude_liked; ties by anchor_id. sql/itemcf/itemcf_channel.sql
-- computes exactly this with the itemcf_candidates UDAF; this file is what the DuckDB peer
-- runs (bench/duckdb_peer.py) and what the UDAF's test runs beside it.
WITH itemcf_scores AS (
    -- Summed in units of 1e-12 as integers: the same score (and so the same ranking) in any
    -- row order, embedded or on a cluster.
    SELECT
        l.user_id,
        s.neighbor_id AS anchor_id,
        CAST(SUM(CAST(ROUND(s.score * 1e12) AS BIGINT)) AS DOUBLE) / 1e12 AS score
    FROM likes l
    JOIN sim s ON s.anchor_id = l.anchor_id
    GROUP BY l.user_id, s.neighbor_id
),
scored AS (
    SELECT c.user_id, c.anchor_id, c.score
    FROM itemcf_scores c
    LEFT JOIN likes l ON l.user_id = c.user_id AND l.anchor_id = c.anchor_id
    WHERE $exclude_liked = false OR l.user_id IS NULL
),
ranked AS (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY score DESC, anchor_id) AS rank
    FROM scored
)
SELECT user_id, anchor_id, 'itemcf' AS source, score, rank
FROM ranked
WHERE rank <= $candidates_per_user
