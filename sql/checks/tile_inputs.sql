-- What the tiles of $date leave out: watches with a negative or missing duration (the
-- quality rules quarantine them first; counted here should any reach the tiles).
SELECT
    (SELECT COUNT(*) FROM watches WHERE duration_s < 0 OR duration_s IS NULL)
        AS negative_duration_rows_excluded
