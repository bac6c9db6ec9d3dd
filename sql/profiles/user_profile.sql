-- user_profile/dt=$date: per-user features from the $profile_days days before $date, merged
-- from the daily tiles of those days, watches through the window's (user, anchor) pairs
-- (reference/user_profile.sql computes the same columns from the raw rows). Every user of
-- the latest snapshot appears, active or not; counts are 0 without data.
WITH w AS (
    -- From the window's (user, anchor) pairs: one pair per distinct anchor watched, their
    -- day masks OR-ed for the distinct days (watch_pairs_before.sql).
    SELECT
        user_id,
        CAST(SUM(watch_ms) AS DOUBLE) / 1000.0 AS u_watch_s,
        SUM(watch_cnt) AS u_watch_cnt,
        SUM(long_cnt) AS u_long_watch_cnt,
        SUM(bounce_cnt) AS u_bounce_cnt,
        COUNT(*) AS u_distinct_anchors,
        bit_count(bit_or(days_lo)) + bit_count(bit_or(days_hi)) AS u_active_days,
        (date_part('epoch', $day_start) - date_part('epoch', MAX(last_ts))) / 3600.0 AS u_hours_since_last_watch
    FROM feature_watch_pairs
    GROUP BY user_id
),
l AS (
    -- latest_k (udfs/) over each tile's latest watches: the window's latest k.
    SELECT user_id, latest_k(anchor_id, ts, $last_k) AS u_last_anchors
    FROM feature_last_watches
    GROUP BY user_id
),
i AS (
    SELECT
        user_id,
        CAST(SUM(gift_milli) AS DOUBLE) / 1000.0 AS u_gift_value,
        SUM(gift_cnt) AS u_gift_cnt,
        SUM(comment_cnt) AS u_comment_cnt,
        SUM(follow_cnt) AS u_follow_cnt
    FROM feature_interaction_tiles
    GROUP BY user_id
),
e AS (
    SELECT user_id, SUM(expo_cnt) AS u_expo_cnt
    FROM feature_user_exposures
    GROUP BY user_id
),
ids AS (
    SELECT user_id FROM users
    UNION SELECT user_id FROM w
    UNION SELECT user_id FROM i
    UNION SELECT user_id FROM e
)
SELECT
    ids.user_id,
    COALESCE(w.u_watch_s, 0.0) AS u_watch_s,
    COALESCE(w.u_watch_cnt, 0) AS u_watch_cnt,
    COALESCE(w.u_active_days, 0) AS u_active_days,
    COALESCE(w.u_long_watch_cnt, 0) AS u_long_watch_cnt,
    CASE WHEN COALESCE(w.u_watch_cnt, 0) = 0 THEN 0.0
         ELSE CAST(w.u_bounce_cnt AS DOUBLE) / w.u_watch_cnt END AS u_bounce_rate,
    COALESCE(w.u_distinct_anchors, 0) AS u_distinct_anchors,
    COALESCE(w.u_hours_since_last_watch, 24.0 * $profile_days) AS u_hours_since_last_watch,
    COALESCE(i.u_gift_value, 0.0) AS u_gift_value,
    COALESCE(i.u_gift_cnt, 0) AS u_gift_cnt,
    COALESCE(i.u_comment_cnt, 0) AS u_comment_cnt,
    COALESCE(i.u_follow_cnt, 0) AS u_follow_cnt,
    COALESCE(e.u_expo_cnt, 0) AS u_expo_cnt,
    CASE WHEN COALESCE(e.u_expo_cnt, 0) = 0 THEN 0.0
         ELSE CAST(COALESCE(w.u_watch_cnt, 0) AS DOUBLE) / e.u_expo_cnt END AS u_ctr,
    l.u_last_anchors,
    u.gender AS u_gender,
    u.age AS u_age,
    u.city AS u_city
FROM ids
LEFT JOIN w ON w.user_id = ids.user_id
LEFT JOIN l ON l.user_id = ids.user_id
LEFT JOIN i ON i.user_id = ids.user_id
LEFT JOIN e ON e.user_id = ids.user_id
LEFT JOIN users u ON u.user_id = ids.user_id
ORDER BY ids.user_id
