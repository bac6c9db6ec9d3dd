-- Row rules of `interactions` on day $date (docs/data-quality.md). A row's reason is the
-- first rule it breaks; rows with a reason are quarantined, the rest are what the jobs read.
-- The kinds are those of the data contract (contract::INTERACTION_KINDS; a test keeps the two
-- lists equal). Duplicates: the same row twice (every column equal) is one event; the copy
-- in the first file (by name) is kept.
WITH checked AS (
    SELECT
        ts, user_id, anchor_id, live_id, kind, value, _file,
        CASE
            WHEN ts IS NULL THEN 'ts:null'
            WHEN user_id IS NULL THEN 'user_id:null'
            WHEN user_id <= 0 THEN 'user_id:not_positive'
            WHEN anchor_id IS NULL THEN 'anchor_id:null'
            WHEN anchor_id <= 0 THEN 'anchor_id:not_positive'
            WHEN live_id <= 0 THEN 'live_id:not_positive'
            WHEN kind IS NULL THEN 'kind:null'
            WHEN kind NOT IN ('gift', 'comment', 'like', 'follow', 'share') THEN 'kind:unknown'
            WHEN value IS NULL THEN 'value:null'
            WHEN isnan(value) THEN 'value:nan'
            WHEN value < 0 THEN 'value:negative'
            WHEN ts > $now THEN 'ts:future'
            WHEN ts < $tolerated_start OR ts >= $tolerated_end THEN 'ts:outside_day'
        END AS rule,
        CASE WHEN ts < $day_start OR ts >= $day_end THEN 'ts:outside_day_tolerated' END AS note
    FROM raw
)
SELECT
    ts, user_id, anchor_id, live_id, kind, value, _file,
    COALESCE(rule, CASE WHEN ROW_NUMBER() OVER (
        PARTITION BY rule IS NULL, ts, user_id, anchor_id, live_id, kind, value
        ORDER BY _file
    ) > 1 THEN 'row:duplicate' END) AS reason,
    CASE WHEN rule IS NULL THEN note END AS note
FROM checked
