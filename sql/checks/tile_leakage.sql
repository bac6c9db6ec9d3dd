-- Leakage check of a profile run for $date, on the tiles the features were computed from:
-- none may come from partition >= $date or hold events with ts >= the start of $date. Any
-- non-zero count fails the run before anything is committed. Also counts the events of the
-- window whose ts lies after $date starts (excluded) or outside their own dt day (misfiled
-- or late data, used for their partition's day) — the counts reference/ gives on raw rows.
SELECT
    (SELECT COUNT(*) FROM feature_watch_tiles WHERE dt >= $date OR ts_day >= $date)
  + (SELECT COUNT(*) FROM feature_interaction_tiles WHERE dt >= $date OR ts_day >= $date)
  + (SELECT COUNT(*) FROM feature_user_exposures WHERE dt >= $date OR ts_day >= $date)
  + (SELECT COUNT(*) FROM feature_anchor_exposures WHERE dt >= $date OR ts_day >= $date)
        AS rows_at_or_after_date,
    (SELECT COALESCE(SUM(watch_cnt), 0) FROM tile_watches WHERE ts_day >= $date)
  + (SELECT COALESCE(SUM(event_cnt), 0) FROM tile_interactions WHERE ts_day >= $date)
  + (SELECT COALESCE(SUM(expo_cnt), 0) FROM tile_user_exposures WHERE ts_day >= $date)
        AS future_rows_excluded,
    (SELECT COALESCE(SUM(watch_cnt), 0) FROM tile_watches WHERE ts_day <> dt)
  + (SELECT COALESCE(SUM(event_cnt), 0) FROM tile_interactions WHERE ts_day <> dt)
  + (SELECT COALESCE(SUM(expo_cnt), 0) FROM tile_user_exposures WHERE ts_day <> dt)
        AS misfiled_rows
