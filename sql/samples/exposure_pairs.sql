-- Exposure-based (entire-space) pairs of day $date: one row per (user, anchor) exposed on
-- $date with the labels click (any watch of the pair that day), watch30 (watch time at or
-- above $pos_threshold_s) and gift (a gift that day). Negatives (click = 0) are kept with
-- probability $neg_sample_rate, decided by a hash of ($sample_seed, user, anchor, day) so a
-- rerun keeps the same rows; sample_weight = 1 / $neg_sample_rate for kept negatives.
-- Sorted by pair, like label_pairs.sql.
WITH e AS (
    SELECT user_id, anchor_id, COUNT(*) AS expo_cnt, MIN(position) AS best_position
    FROM exposures
    WHERE dt = $date
    GROUP BY user_id, anchor_id
),
w AS (
    SELECT user_id, anchor_id,
        CAST(SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) AS DOUBLE) / 1000.0 AS watch_s
    FROM watches
    WHERE dt = $date AND duration_s >= 0
    GROUP BY user_id, anchor_id
),
g AS (
    SELECT DISTINCT user_id, anchor_id
    FROM interactions
    WHERE dt = $date AND kind = 'gift'
),
labelled AS (
    SELECT
        e.user_id,
        e.anchor_id,
        e.expo_cnt,
        e.best_position,
        CASE WHEN w.user_id IS NOT NULL THEN 1 ELSE 0 END AS click,
        CASE WHEN COALESCE(w.watch_s, 0.0) >= $pos_threshold_s THEN 1 ELSE 0 END AS watch30,
        CASE WHEN g.user_id IS NOT NULL THEN 1 ELSE 0 END AS gift,
        COALESCE(w.watch_s, 0.0) AS watch_s
    FROM e
    LEFT JOIN w ON w.user_id = e.user_id AND w.anchor_id = e.anchor_id
    LEFT JOIN g ON g.user_id = e.user_id AND g.anchor_id = e.anchor_id
)
SELECT
    *,
    CASE WHEN click = 1 THEN 1.0 ELSE 1.0 / $neg_sample_rate END AS sample_weight
FROM labelled
WHERE click = 1 OR sample_unit($sample_seed, user_id, anchor_id, $date) < $neg_sample_rate
ORDER BY user_id, anchor_id
