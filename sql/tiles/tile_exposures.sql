-- tile_exposures/dt=$date: the exposures of partition $date counted per (user, anchor,
-- ts_day) (see tile_watches.sql for ts_day).
SELECT
    user_id,
    anchor_id,
    CAST(ts AS DATE) AS ts_day,
    COUNT(*) AS expo_cnt
FROM exposures
GROUP BY user_id, anchor_id, CAST(ts AS DATE)
ORDER BY user_id, anchor_id, ts_day
