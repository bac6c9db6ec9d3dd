-- Leakage check of a profile run for $date, on the rows the features were computed from:
-- none may come from partition >= $date or have ts >= the start of $date. Any non-zero
-- count fails the run before anything is committed. Also counts the rows of the window
-- whose ts lies outside their own dt day (misfiled or late data); those with a future ts
-- are excluded from features, the others are used for their partition's day.
SELECT
    (SELECT COUNT(*) FROM feature_watches WHERE dt >= $date OR ts >= $day_start)
  + (SELECT COUNT(*) FROM feature_interactions WHERE dt >= $date OR ts >= $day_start)
  + (SELECT COUNT(*) FROM feature_exposures WHERE dt >= $date OR ts >= $day_start)
        AS rows_at_or_after_date,
    (SELECT COUNT(*) FROM watches WHERE ts >= $day_start)
  + (SELECT COUNT(*) FROM interactions WHERE ts >= $day_start)
  + (SELECT COUNT(*) FROM exposures WHERE ts >= $day_start)
        AS future_rows_excluded,
    (SELECT COUNT(*) FROM watches WHERE NOT ts_in_day(ts, dt))
  + (SELECT COUNT(*) FROM interactions WHERE NOT ts_in_day(ts, dt))
  + (SELECT COUNT(*) FROM exposures WHERE NOT ts_in_day(ts, dt))
        AS misfiled_rows,
    (SELECT COUNT(*) FROM watches WHERE duration_s < 0 OR duration_s IS NULL)
        AS negative_duration_rows_excluded
