-- Interaction tiles of interactions before $date (see watch_tiles_before.sql).
SELECT *
FROM tile_interactions
WHERE ts_day < $date
