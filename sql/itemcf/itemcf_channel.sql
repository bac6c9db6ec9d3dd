-- The itemcf channel of the candidates: score(u, b) = sum over items (anchors) a that u
-- likes of sim(a, b), over a's top neighbours; items u already likes are left out when
-- $exclude_liked. Shared by the platform's itemcf job and itemcf_items (where `anchor_id`
-- holds the item).
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
)
SELECT c.user_id, c.anchor_id, 'itemcf' AS source, c.score
FROM itemcf_scores c
LEFT JOIN likes l ON l.user_id = c.user_id AND l.anchor_id = c.anchor_id
WHERE $exclude_liked = false OR l.user_id IS NULL
