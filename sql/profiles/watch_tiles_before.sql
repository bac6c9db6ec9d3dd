-- Watch tiles usable as features for day $date: partitions $date-N .. $date-1 (the runner
-- registers no others) and, within them, only rows of watches that happened before the day
-- starts (ts_day < $date): a watch misfiled into an earlier partition with a ts on or after
-- $date is excluded here and counted by the leakage check. Each tile carries its anchor's
-- category from the latest anchors snapshot before $date. Reference: reference/watches_before.sql.
SELECT
    t.dt,
    t.ts_day,
    t.user_id,
    t.anchor_id,
    t.watch_ms,
    t.watch_cnt,
    t.long_cnt,
    t.bounce_cnt,
    t.last_ts,
    COALESCE(a.category, 'unknown') AS category
FROM tile_watches t
LEFT JOIN anchors a ON a.anchor_id = t.anchor_id
WHERE t.ts_day < $date
