-- Data-quality counts of the heat job's inputs, recorded in the output manifest.
-- Misfiled rows (ts outside their dt day) still count for their partition's day.
SELECT
    w.rows AS watch_rows,
    w.misfiled AS misfiled_watches,
    i.rows AS interaction_rows,
    i.misfiled AS misfiled_interactions,
    i.unknown_kinds AS unknown_interaction_kinds
FROM (
    SELECT
        COUNT(*) AS rows,
        SUM(CASE WHEN ts_in_day(ts, dt) THEN 0 ELSE 1 END) AS misfiled
    FROM watches
) w
CROSS JOIN (
    SELECT
        COUNT(*) AS rows,
        SUM(CASE WHEN ts_in_day(ts, dt) THEN 0 ELSE 1 END) AS misfiled,
        SUM(CASE WHEN kind IN ('gift', 'comment', 'like', 'share', 'follow') THEN 0 ELSE 1 END) AS unknown_kinds
    FROM interactions
) i
