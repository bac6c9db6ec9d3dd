-- Counts of a samples run for label day $date, recorded in both output manifests.
SELECT
    (SELECT COUNT(*) FROM label_pairs) AS watch_pairs,
    (SELECT COUNT(*) FROM label_pairs WHERE label = 1) AS positives,
    (SELECT COUNT(*) FROM label_pairs WHERE label = 0) AS negatives,
    (SELECT COUNT(*) FROM label_pairs WHERE label IS NULL) AS dropped_band,
    (SELECT COUNT(*) FROM exposure_pairs) AS exposure_rows,
    (SELECT COUNT(*) FROM exposure_pairs WHERE click = 1) AS exposure_clicks,
    (SELECT COUNT(*) FROM watches WHERE NOT ts_in_day(ts, dt)) AS misfiled_label_watches,
    (SELECT COUNT(*) FROM watches WHERE duration_s < 0 OR duration_s IS NULL) AS invalid_duration_rows_excluded
