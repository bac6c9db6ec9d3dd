-- Row rules of `interactions` on day $date (docs/data-quality.md). A row's reason is the first
-- rule it breaks (`column:rule`); rows with a reason are quarantined, the rest are what the
-- jobs read. Duplicates are declared in dedup.toml beside this file.
-- The kinds are those of the data contract (contract::INTERACTION_KINDS; a unit test keeps
-- the two lists equal).
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
