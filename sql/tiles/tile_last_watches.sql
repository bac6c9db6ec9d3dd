-- tile_last_watches/dt=$date: per (user, ts_day), the user's $last_k latest watches of
-- partition $date as (ts, anchor_id), latest first, ties by anchor id — the order of
-- latest_k. The latest k of a window are among the latest k of each of its tiles, so
-- latest_k over the merged tiles equals latest_k over the raw watches.
-- Two latest_k lists per (user, day) and one unnest instead of ROW_NUMBER over a window
-- partition per (user, day) (a third of the tile day's time, docs/benchmarks.md): ordered
-- by (ts desc, value), the list of ts and the list of anchors hold the same k rows in the
-- same order, so their i-th entries belong together. ts is the contract's µs UTC, carried as
-- its count of microseconds.
WITH latest AS (
    SELECT
        user_id,
        CAST(ts AS DATE) AS ts_day,
        latest_k(arrow_cast(ts, 'Int64'), ts, $last_k) AS ts_us,
        latest_k(anchor_id, ts, $last_k) AS anchor_ids
    FROM watches
    WHERE duration_s >= 0
    GROUP BY user_id, CAST(ts AS DATE)
),
rows AS (
    SELECT user_id, ts_day, unnest(ts_us) AS ts_us, unnest(anchor_ids) AS anchor_id
    FROM latest
)
SELECT
    user_id,
    ts_day,
    arrow_cast(ts_us, 'Timestamp(Microsecond, Some("UTC"))') AS ts,
    anchor_id
FROM rows
ORDER BY user_id, ts_day, ts DESC, anchor_id
