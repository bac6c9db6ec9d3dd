-- tile_last_watches/dt=$date: per (user, ts_day), the user's $last_k latest watches of
-- partition $date as (ts, anchor_id), latest first, ties by anchor id — the order of
-- latest_k. The latest k of a window are among the latest k of each of its tiles, so
-- latest_k over the merged tiles equals latest_k over the raw watches.
SELECT user_id, ts_day, ts, anchor_id
FROM (
    SELECT
        user_id,
        CAST(ts AS DATE) AS ts_day,
        ts,
        anchor_id,
        ROW_NUMBER() OVER (
            PARTITION BY user_id, CAST(ts AS DATE) ORDER BY ts DESC, anchor_id
        ) AS position
    FROM watches
    WHERE duration_s >= 0
) w
WHERE position <= $last_k
ORDER BY user_id, ts_day, ts DESC, anchor_id
