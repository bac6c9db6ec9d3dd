-- Anchors each user already liked in the item-CF window (same rule as itemcf/likes.sql).
SELECT user_id, anchor_id
FROM window_watches
WHERE duration_s >= 0
GROUP BY user_id, anchor_id
HAVING SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) >= $like_threshold_s * 1000.0
