-- user_category_profile/dt=$date: each user's watch time per anchor category in the
-- $profile_days days before $date, and its share of the user's total (the cross feature).
WITH c AS (
    SELECT user_id, category, SUM(duration_s) AS uc_watch_s
    FROM feature_watches
    GROUP BY user_id, category
)
SELECT
    user_id,
    category,
    uc_watch_s,
    CASE WHEN SUM(uc_watch_s) OVER (PARTITION BY user_id) > 0
         THEN uc_watch_s / SUM(uc_watch_s) OVER (PARTITION BY user_id)
         ELSE 0.0 END AS uc_share
FROM c
ORDER BY user_id, category
