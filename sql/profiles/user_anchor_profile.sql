-- user_anchor_profile/dt=$date: features of each (user, anchor) pair with a watch, gift or
-- follow in the $profile_days days before $date, merged from the daily tiles
-- (reference/user_anchor_profile.sql: the same from raw rows).
WITH w AS (
    SELECT
        user_id,
        anchor_id,
        CAST(SUM(watch_ms) AS DOUBLE) / 1000.0 AS ua_watch_s,
        SUM(watch_cnt) AS ua_watch_cnt,
        (date_part('epoch', $day_start) - date_part('epoch', MAX(last_ts))) / 3600.0 AS ua_hours_since_last_watch
    FROM feature_watch_tiles
    GROUP BY user_id, anchor_id
),
i AS (
    SELECT
        user_id,
        anchor_id,
        MAX(CASE WHEN follow_cnt > 0 THEN 1 ELSE 0 END) AS ua_followed,
        CAST(SUM(gift_milli) AS DOUBLE) / 1000.0 AS ua_gift_value
    FROM feature_interaction_tiles
    GROUP BY user_id, anchor_id
),
pairs AS (
    SELECT user_id, anchor_id FROM w
    UNION
    SELECT user_id, anchor_id FROM i WHERE ua_followed = 1 OR ua_gift_value > 0
)
SELECT
    p.user_id,
    p.anchor_id,
    COALESCE(w.ua_watch_s, 0.0) AS ua_watch_s,
    COALESCE(w.ua_watch_cnt, 0) AS ua_watch_cnt,
    COALESCE(w.ua_hours_since_last_watch, 24.0 * $profile_days) AS ua_hours_since_last_watch,
    CAST(COALESCE(i.ua_followed, 0) AS INT) AS ua_followed,
    COALESCE(i.ua_gift_value, 0.0) AS ua_gift_value
FROM pairs p
LEFT JOIN w ON w.user_id = p.user_id AND w.anchor_id = p.anchor_id
LEFT JOIN i ON i.user_id = p.user_id AND i.anchor_id = p.anchor_id
ORDER BY p.user_id, p.anchor_id
