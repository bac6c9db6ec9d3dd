-- Each user's latest watches per tile, of watches before $date (see watch_tiles_before.sql).
SELECT dt, ts_day, user_id, ts, anchor_id
FROM tile_last_watches
WHERE ts_day < $date
