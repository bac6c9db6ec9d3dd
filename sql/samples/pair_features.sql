-- Features of every pair that needs them on label day $date (watch pairs and exposure
-- pairs), from the profiles of dt = $date, which hold only data of the $profile_days days
-- before $date. The same profile tables are what serving loads, so training and serving
-- share one definition. Missing data gives 0 (recency: the window length in hours).
WITH pairs AS (
    SELECT user_id, anchor_id FROM label_pairs
    UNION
    SELECT user_id, anchor_id FROM exposure_pairs
    -- Sorted once here (two columns). With one partition per query (label days built two
    -- at a time on two cores) each profile is the build side of its join, the features come
    -- out in this order, and neither output sorts its wide rows (docs/benchmarks.md).
    ORDER BY user_id, anchor_id
)
SELECT
    p.user_id,
    p.anchor_id,
    COALESCE(up.u_watch_s, 0.0) AS u_watch_s,
    COALESCE(up.u_watch_cnt, 0) AS u_watch_cnt,
    COALESCE(up.u_active_days, 0) AS u_active_days,
    COALESCE(up.u_long_watch_cnt, 0) AS u_long_watch_cnt,
    COALESCE(up.u_bounce_rate, 0.0) AS u_bounce_rate,
    COALESCE(up.u_distinct_anchors, 0) AS u_distinct_anchors,
    COALESCE(up.u_hours_since_last_watch, 24.0 * $profile_days) AS u_hours_since_last_watch,
    COALESCE(up.u_gift_value, 0.0) AS u_gift_value,
    COALESCE(up.u_gift_cnt, 0) AS u_gift_cnt,
    COALESCE(up.u_comment_cnt, 0) AS u_comment_cnt,
    COALESCE(up.u_expo_cnt, 0) AS u_expo_cnt,
    COALESCE(up.u_ctr, 0.0) AS u_ctr,
    up.u_gender,
    up.u_age,
    up.u_city,
    up.u_last_anchors,
    COALESCE(ap.a_watch_s, 0.0) AS a_watch_s,
    COALESCE(ap.a_watch_cnt, 0) AS a_watch_cnt,
    COALESCE(ap.a_viewers, 0) AS a_viewers,
    COALESCE(ap.a_long_watch_cnt, 0) AS a_long_watch_cnt,
    COALESCE(ap.a_bounce_rate, 0.0) AS a_bounce_rate,
    COALESCE(ap.a_avg_watch_s, 0.0) AS a_avg_watch_s,
    COALESCE(ap.a_active_days, 0) AS a_active_days,
    COALESCE(ap.a_expo_cnt, 0) AS a_expo_cnt,
    COALESCE(ap.a_ctr, 0.0) AS a_ctr,
    COALESCE(ap.a_gift_value, 0.0) AS a_gift_value,
    COALESCE(ap.a_gifters, 0) AS a_gifters,
    COALESCE(ap.a_new_followers, 0) AS a_new_followers,
    ap.a_gender,
    ap.a_age,
    ap.a_city,
    COALESCE(ap.a_category, 'unknown') AS a_category,
    COALESCE(ua.ua_watch_s, 0.0) AS ua_watch_s,
    COALESCE(ua.ua_watch_cnt, 0) AS ua_watch_cnt,
    COALESCE(ua.ua_hours_since_last_watch, 24.0 * $profile_days) AS ua_hours_since_last_watch,
    COALESCE(ua.ua_followed, 0) AS ua_followed,
    COALESCE(ua.ua_gift_value, 0.0) AS ua_gift_value,
    COALESCE(uc.uc_share, 0.0) AS ua_category_share,
    CASE WHEN array_has(up.u_last_anchors, p.anchor_id) THEN 1 ELSE 0 END AS ua_in_last_anchors
FROM pairs p
LEFT JOIN user_profile up ON up.user_id = p.user_id
LEFT JOIN anchor_profile ap ON ap.anchor_id = p.anchor_id
LEFT JOIN user_anchor_profile ua ON ua.user_id = p.user_id AND ua.anchor_id = p.anchor_id
LEFT JOIN user_category_profile uc
    ON uc.user_id = p.user_id AND uc.category = COALESCE(ap.a_category, 'unknown')
