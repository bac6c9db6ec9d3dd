-- tile_user_exposures/dt=$date: the exposures of partition $date counted per (user, ts_day)
-- (see tile_watches.sql for ts_day). Profiles use exposures only as per-user and per-anchor
-- counts, so the tiles keep no pairs (a tenth of the rows of a per-pair tile).
SELECT user_id, CAST(ts AS DATE) AS ts_day, COUNT(*) AS expo_cnt
FROM exposures
GROUP BY user_id, CAST(ts AS DATE)
ORDER BY user_id, ts_day
