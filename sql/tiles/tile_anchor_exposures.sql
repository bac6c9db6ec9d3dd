-- tile_anchor_exposures/dt=$date: the exposures of partition $date counted per (anchor,
-- ts_day) (see tile_user_exposures.sql).
SELECT anchor_id, CAST(ts AS DATE) AS ts_day, COUNT(*) AS expo_cnt
FROM exposures
GROUP BY anchor_id, CAST(ts AS DATE)
ORDER BY anchor_id, ts_day
