-- Per-user exposure tiles of exposures before $date (see watch_tiles_before.sql).
SELECT *
FROM tile_user_exposures
WHERE ts_day < $date
