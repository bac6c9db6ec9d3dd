-- Row rules of `live_sessions` on day $date (docs/data-quality.md). A row's reason is the first
-- rule it breaks (`column:rule`); rows with a reason are quarantined, the rest are what the
-- jobs read. Duplicates are declared in dedup.toml beside this file.
-- A session is filed under the day it started.
SELECT
    live_id, anchor_id, start_ts, end_ts, category, _file,
    CASE
        WHEN live_id IS NULL THEN 'live_id:null'
        WHEN live_id <= 0 THEN 'live_id:not_positive'
        WHEN anchor_id IS NULL THEN 'anchor_id:null'
        WHEN anchor_id <= 0 THEN 'anchor_id:not_positive'
        WHEN start_ts IS NULL THEN 'start_ts:null'
        WHEN end_ts IS NULL THEN 'end_ts:null'
        WHEN end_ts < start_ts THEN 'end_ts:before_start'
        WHEN category IS NULL THEN 'category:null'
        WHEN start_ts > $now THEN 'start_ts:future'
        WHEN start_ts < $tolerated_start OR start_ts >= $tolerated_end THEN 'start_ts:outside_day'
    END AS rule,
    CASE WHEN start_ts < $day_start OR start_ts >= $day_end THEN 'start_ts:outside_day_tolerated' END AS note
FROM raw
