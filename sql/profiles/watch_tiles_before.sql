-- Watch tiles usable as features for day $date: partitions $date-N .. $date-1 (the runner
-- registers no others) and, within them, only rows of watches that happened before the day
-- starts (ts_day < $date): a watch misfiled into an earlier partition with a ts on or after
-- $date is excluded here and counted by the leakage check.
-- Reference: reference/watches_before.sql.
SELECT
    t.dt,
    t.ts_day,
    t.user_id,
    t.anchor_id,
    t.watch_ms,
    t.watch_cnt,
    t.long_cnt,
    t.bounce_cnt,
    t.last_ts
FROM tile_watches t
WHERE t.ts_day < $date
