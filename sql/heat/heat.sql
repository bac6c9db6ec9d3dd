-- Heat ranking on day $date (the platform's first, rule-based recommender):
--   heat = w_viewers * viewers + w_gifters * gifters + w_interactors * interactors
-- Each count is of distinct users on that day; an event's day is its dt partition.
-- Ties are broken by anchor_id so ranks are deterministic.
WITH viewers AS (
    SELECT anchor_id, COUNT(DISTINCT user_id) AS viewers
    FROM watches
    WHERE dt = $date
    GROUP BY anchor_id
),
gifters AS (
    SELECT anchor_id, COUNT(DISTINCT user_id) AS gifters
    FROM interactions
    WHERE dt = $date AND kind = 'gift'
    GROUP BY anchor_id
),
interactors AS (
    SELECT anchor_id, COUNT(DISTINCT user_id) AS interactors
    FROM interactions
    WHERE dt = $date AND kind IN ('comment', 'like', 'share', 'follow')
    GROUP BY anchor_id
),
active AS (
    SELECT anchor_id FROM viewers
    UNION
    SELECT anchor_id FROM gifters
    UNION
    SELECT anchor_id FROM interactors
),
scored AS (
    SELECT
        a.anchor_id,
        COALESCE(s.category, 'unknown') AS category,
        COALESCE(v.viewers, 0) AS viewers,
        COALESCE(g.gifters, 0) AS gifters,
        COALESCE(i.interactors, 0) AS interactors
    FROM active a
    LEFT JOIN viewers v ON v.anchor_id = a.anchor_id
    LEFT JOIN gifters g ON g.anchor_id = a.anchor_id
    LEFT JOIN interactors i ON i.anchor_id = a.anchor_id
    LEFT JOIN anchors s ON s.anchor_id = a.anchor_id AND s.dt = $date
),
weighted AS (
    SELECT
        *,
        CAST(viewers AS DOUBLE) * $w_viewers
            + CAST(gifters AS DOUBLE) * $w_gifters
            + CAST(interactors AS DOUBLE) * $w_interactors AS heat
    FROM scored
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
