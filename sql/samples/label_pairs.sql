-- Watch-based label pairs of label day $date: one row per (user, anchor) with a watch on
-- $date. watch_s is the pair's total watch time that day (summed in whole milliseconds); label = 1 at or above
-- $pos_threshold_s, 0 at or below $neg_threshold_s, NULL in between (dropped, and counted).
-- Sorted by pair (narrow rows: a cheap sort); see pair_features.sql.
SELECT
    user_id,
    anchor_id,
    CAST(SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) AS DOUBLE) / 1000.0 AS watch_s,
    COUNT(*) AS watch_cnt,
    CASE
        WHEN SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) >= $pos_threshold_s * 1000.0 THEN 1
        WHEN SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) <= $neg_threshold_s * 1000.0 THEN 0
    END AS label
FROM watches
WHERE dt = $date AND duration_s >= 0
GROUP BY user_id, anchor_id
ORDER BY user_id, anchor_id
