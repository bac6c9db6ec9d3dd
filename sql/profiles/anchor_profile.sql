-- anchor_profile/dt=$date: per-anchor features from the $profile_days days before $date,
-- merged from the daily tiles (reference/anchor_profile.sql: the same from raw rows). Every
-- anchor of the latest snapshot appears; counts are 0 without data. Distinct counts
-- (viewers, gifters, active days) count distinct keys or OR day masks, never add tiles up.
WITH w AS (
    -- From the window's (user, anchor) pairs: one pair per distinct viewer, their day masks
    -- OR-ed for the distinct days (watch_pairs_before.sql).
    SELECT
        anchor_id,
        CAST(SUM(watch_ms) AS DOUBLE) / 1000.0 AS a_watch_s,
        SUM(watch_cnt) AS a_watch_cnt,
        COUNT(*) AS a_viewers,
        SUM(bounce_cnt) AS a_bounce_cnt,
        SUM(long_cnt) AS a_long_watch_cnt,
        bit_count(bit_or(days_lo)) + bit_count(bit_or(days_hi)) AS a_active_days
    FROM feature_watch_pairs
    GROUP BY anchor_id
),
i AS (
    SELECT
        anchor_id,
        CAST(SUM(gift_milli) AS DOUBLE) / 1000.0 AS a_gift_value,
        COUNT(DISTINCT CASE WHEN gift_cnt > 0 THEN user_id END) AS a_gifters,
        SUM(follow_cnt) AS a_new_followers,
        SUM(engage_cnt) AS a_engagements
    FROM feature_interaction_tiles
    GROUP BY anchor_id
),
e AS (
    SELECT anchor_id, SUM(expo_cnt) AS a_expo_cnt
    FROM feature_anchor_exposures
    GROUP BY anchor_id
),
ids AS (
    SELECT anchor_id FROM anchors
    UNION SELECT anchor_id FROM w
    UNION SELECT anchor_id FROM i
    UNION SELECT anchor_id FROM e
)
SELECT
    ids.anchor_id,
    COALESCE(w.a_watch_s, 0.0) AS a_watch_s,
    COALESCE(w.a_watch_cnt, 0) AS a_watch_cnt,
    COALESCE(w.a_viewers, 0) AS a_viewers,
    COALESCE(w.a_long_watch_cnt, 0) AS a_long_watch_cnt,
    CASE WHEN COALESCE(w.a_watch_cnt, 0) = 0 THEN 0.0
         ELSE CAST(w.a_bounce_cnt AS DOUBLE) / w.a_watch_cnt END AS a_bounce_rate,
    CASE WHEN COALESCE(w.a_watch_cnt, 0) = 0 THEN 0.0
         ELSE w.a_watch_s / w.a_watch_cnt END AS a_avg_watch_s,
    COALESCE(w.a_active_days, 0) AS a_active_days,
    COALESCE(e.a_expo_cnt, 0) AS a_expo_cnt,
    CASE WHEN COALESCE(e.a_expo_cnt, 0) = 0 THEN 0.0
         ELSE CAST(COALESCE(w.a_watch_cnt, 0) AS DOUBLE) / e.a_expo_cnt END AS a_ctr,
    COALESCE(i.a_gift_value, 0.0) AS a_gift_value,
    COALESCE(i.a_gifters, 0) AS a_gifters,
    COALESCE(i.a_new_followers, 0) AS a_new_followers,
    COALESCE(i.a_engagements, 0) AS a_engagements,
    a.gender AS a_gender,
    a.age AS a_age,
    a.city AS a_city,
    COALESCE(a.category, 'unknown') AS a_category
FROM ids
LEFT JOIN w ON w.anchor_id = ids.anchor_id
LEFT JOIN i ON i.anchor_id = ids.anchor_id
LEFT JOIN e ON e.anchor_id = ids.anchor_id
LEFT JOIN anchors a ON a.anchor_id = ids.anchor_id
ORDER BY ids.anchor_id
