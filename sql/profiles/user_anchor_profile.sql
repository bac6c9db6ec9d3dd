-- user_anchor_profile/dt=$date: features of each (user, anchor) pair with a watch, gift or
-- follow in the $profile_days days before $date, merged from the daily tiles
-- (reference/user_anchor_profile.sql: the same from raw rows).
WITH w AS (
    SELECT
        user_id,
        anchor_id,
        CAST(watch_ms AS DOUBLE) / 1000.0 AS ua_watch_s,
        watch_cnt AS ua_watch_cnt,
        (date_part('epoch', $day_start) - date_part('epoch', last_ts)) / 3600.0 AS ua_hours_since_last_watch
    FROM feature_watch_pairs
),
i AS (
    SELECT
        user_id,
        anchor_id,
        MAX(CASE WHEN follow_cnt > 0 THEN 1 ELSE 0 END) AS ua_followed,
        CAST(SUM(gift_milli) AS DOUBLE) / 1000.0 AS ua_gift_value
    FROM feature_interaction_tiles
    GROUP BY user_id, anchor_id
)
-- Every watched pair, and the pairs followed or gifted without a watch.
SELECT
    COALESCE(w.user_id, i.user_id) AS user_id,
    COALESCE(w.anchor_id, i.anchor_id) AS anchor_id,
    COALESCE(w.ua_watch_s, 0.0) AS ua_watch_s,
    COALESCE(w.ua_watch_cnt, 0) AS ua_watch_cnt,
    COALESCE(w.ua_hours_since_last_watch, 24.0 * $profile_days) AS ua_hours_since_last_watch,
    CAST(COALESCE(i.ua_followed, 0) AS INT) AS ua_followed,
    COALESCE(i.ua_gift_value, 0.0) AS ua_gift_value
FROM w
FULL JOIN i ON i.user_id = w.user_id AND i.anchor_id = w.anchor_id
WHERE w.user_id IS NOT NULL OR i.ua_followed = 1 OR i.ua_gift_value > 0
ORDER BY user_id, anchor_id
