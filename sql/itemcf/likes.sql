-- Who likes whom over the window $date-(window_days-1) .. $date: a user likes an anchor when
-- their total watch time in the window is at least $like_threshold_s (summed in whole
-- milliseconds, so it does not depend on row order). With $max_items_per_user > 0 only the
-- user's most-watched anchors are kept (heavy-user cap).
WITH totals AS (
    SELECT
        user_id,
        anchor_id,
        SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) AS watch_ms,
        COUNT(DISTINCT dt) AS watch_days
    FROM watches
    WHERE duration_s >= 0
    GROUP BY user_id, anchor_id
),
liked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY watch_ms DESC, anchor_id) AS user_rank
    FROM totals
    WHERE watch_ms >= $like_threshold_s * 1000.0
)
SELECT user_id, anchor_id, CAST(watch_ms AS DOUBLE) / 1000.0 AS watch_s, watch_ms, watch_days
FROM liked
WHERE $max_items_per_user = 0 OR user_rank <= $max_items_per_user
