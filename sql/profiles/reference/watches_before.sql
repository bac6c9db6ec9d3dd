-- Watches usable as features for day $date: partitions $date-N .. $date-1 (the runner
-- registers no others) and, within them, only rows that happened before the day starts.
-- A row misfiled into an earlier partition with a ts on or after $date is excluded here and
-- counted by the leakage check. Each watch carries its anchor's category from the latest
-- anchors snapshot before $date.
SELECT
    w.dt,
    w.ts,
    w.user_id,
    w.anchor_id,
    w.live_id,
    w.duration_s,
    -- Whole milliseconds: sums of integers do not depend on the order rows arrive in, so
    -- features are bit-identical however the scan is partitioned.
    CAST(ROUND(w.duration_s * 1000.0) AS BIGINT) AS duration_ms,
    COALESCE(a.category, 'unknown') AS category
FROM watches w
LEFT JOIN anchors a ON a.anchor_id = w.anchor_id
WHERE w.ts < $day_start
  AND w.duration_s >= 0
