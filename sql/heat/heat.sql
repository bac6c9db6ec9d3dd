-- Heat ranking on day $date (the platform's first, rule-based recommender):
--   heat = w_viewers * viewers + w_gifters * gifters + w_interactors * interactors
-- Each count is of distinct users on that day; an event's day is its dt partition.
-- Ties are broken by anchor_id so ranks are deterministic.
-- One pass: watches and interactions become (anchor, user, role) rows, and one aggregation
-- per anchor counts distinct users of each role (DataFusion counts distinct integers
-- vectorised). Slower here, all with the same rows (docs/benchmarks.md): three COUNT
-- DISTINCTs joined back together; a dedup of (anchor, role, user) triples; OR-ing role bits
-- per (anchor, user) — the last is sql/heat/reference/heat.sql, DuckDB's fastest form.
WITH events AS (
    SELECT anchor_id, user_id, 1 AS role
    FROM watches
    WHERE dt = $date
    UNION ALL
    SELECT anchor_id, user_id, CASE WHEN kind = 'gift' THEN 2 ELSE 4 END AS role
    FROM interactions
    WHERE dt = $date AND kind IN ('gift', 'comment', 'like', 'share', 'follow')
),
counts AS (
    SELECT
        anchor_id,
        COUNT(DISTINCT CASE WHEN role = 1 THEN user_id END) AS viewers,
        COUNT(DISTINCT CASE WHEN role = 2 THEN user_id END) AS gifters,
        COUNT(DISTINCT CASE WHEN role = 4 THEN user_id END) AS interactors
    FROM events
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
