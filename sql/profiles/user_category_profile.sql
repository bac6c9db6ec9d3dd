-- user_category_profile/dt=$date: each user's watch time per anchor category in the
-- $profile_days days before $date, and its share of the user's total (the cross feature),
-- from the window's (user, anchor) pairs and the categories of the latest anchors snapshot
-- before $date (so a category change applies to the whole window, as in
-- reference/user_category_profile.sql). Sums are of whole milliseconds (exact), so the
-- share is bit-identical across runs.
WITH c AS (
    SELECT p.user_id, COALESCE(a.category, 'unknown') AS category, SUM(p.watch_ms) AS uc_watch_ms
    FROM feature_watch_pairs p
    LEFT JOIN anchors a ON a.anchor_id = p.anchor_id
    GROUP BY p.user_id, COALESCE(a.category, 'unknown')
),
-- Each user's total over all categories, summed from the pairs (the same integer sum as over
-- c) and joined: a window SUM partitioned by user took over half of this query's time.
t AS (
    SELECT user_id, SUM(watch_ms) AS u_watch_ms
    FROM feature_watch_pairs
    GROUP BY user_id
)
SELECT
    c.user_id,
    c.category,
    CAST(c.uc_watch_ms AS DOUBLE) / 1000.0 AS uc_watch_s,
    CASE WHEN t.u_watch_ms > 0
         THEN CAST(c.uc_watch_ms AS DOUBLE) / CAST(t.u_watch_ms AS DOUBLE)
         ELSE 0.0 END AS uc_share
FROM c
JOIN t ON t.user_id = c.user_id
ORDER BY c.user_id, c.category
