-- Row rules of `live_sessions` on day $date (docs/data-quality.md): a session is filed under
-- the day it started. Duplicates: one row per live_id; a re-sent row keeps the latest end.
WITH checked AS (
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
)
SELECT
    live_id, anchor_id, start_ts, end_ts, category, _file,
    COALESCE(rule, CASE WHEN ROW_NUMBER() OVER (
        PARTITION BY rule IS NULL, live_id
        ORDER BY end_ts DESC, anchor_id, start_ts, category, _file
    ) > 1 THEN 'row:duplicate' END) AS reason,
    CASE WHEN rule IS NULL THEN note END AS note
FROM checked
