-- Reference of itemcf/likes.sql (which sums the daily watch tiles), from the raw watches:
-- tests/tiles.rs requires both to give the same likes.
-- Who likes whom over the window $date-(window_days-1) .. $date: a user likes an anchor when
-- their total watch time in the window is at least $like_threshold_s (summed in whole
-- milliseconds, so it does not depend on row order). With $max_items_per_user > 0 only the
-- user's most-watched anchors are kept (heavy-user cap).
-- Each like has a weight x = sqrt(iuf) * decay (1 unless the options are on):
--   iuf   = 1 / ln(1 + likes of the user)              when $iuf
--   decay = 0.5 ^ (days from the last watch to $date / $half_life_days)  when $half_life_days > 0
-- so that the weighted co-occurrence sum_u x_ua * x_ub is sum_u iuf_u * decay_ua * decay_ub.
WITH totals AS (
    SELECT
        user_id,
        anchor_id,
        SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) AS watch_ms,
        -- Days counted as integers ($date - dt): DataFusion counts distinct integers in one
        -- vectorised hash set, distinct dates group by group (docs/benchmarks.md).
        COUNT(DISTINCT $date - dt) AS watch_days,
        MAX(dt) AS last_dt
    FROM watches
    WHERE duration_s >= 0
    GROUP BY user_id, anchor_id
),
liked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY watch_ms DESC, anchor_id) AS user_rank
    FROM totals
    WHERE watch_ms >= $like_threshold_s * 1000.0
),
kept AS (
    SELECT *, COUNT(*) OVER (PARTITION BY user_id) AS user_likes
    FROM liked
    WHERE $max_items_per_user = 0 OR user_rank <= $max_items_per_user
)
SELECT
    user_id,
    anchor_id,
    CAST(watch_ms AS DOUBLE) / 1000.0 AS watch_s,
    watch_ms,
    watch_days,
    CASE WHEN $iuf THEN sqrt(1.0 / ln(1.0 + CAST(user_likes AS DOUBLE))) ELSE 1.0 END
        * CASE
            WHEN $half_life_days > 0
                THEN power(0.5, CAST($date - last_dt AS DOUBLE) / $half_life_days)
            ELSE 1.0
          END AS x
FROM kept
