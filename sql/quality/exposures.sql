-- Row rules of `exposures` on day $date (docs/data-quality.md). A row's reason is the first
-- rule it breaks (`column:rule`); rows with a reason are quarantined, the rest are what the
-- jobs read. Duplicates are declared in dedup.toml beside this file.
SELECT
    ts, user_id, anchor_id, live_id, position, page, _file,
    CASE
        WHEN ts IS NULL THEN 'ts:null'
        WHEN user_id IS NULL THEN 'user_id:null'
        WHEN user_id <= 0 THEN 'user_id:not_positive'
        WHEN anchor_id IS NULL THEN 'anchor_id:null'
        WHEN anchor_id <= 0 THEN 'anchor_id:not_positive'
        WHEN live_id IS NULL THEN 'live_id:null'
        WHEN live_id <= 0 THEN 'live_id:not_positive'
        WHEN position < 0 THEN 'position:negative'
        WHEN ts > $now THEN 'ts:future'
        WHEN ts < $tolerated_start OR ts >= $tolerated_end THEN 'ts:outside_day'
    END AS rule,
    CASE WHEN ts < $day_start OR ts >= $day_end THEN 'ts:outside_day_tolerated' END AS note
FROM raw
