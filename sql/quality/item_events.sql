-- Row rules of the generic `item_events` on day $date (docs/data-quality.md): interactions
-- imported from another data set (liverec import-interactions). A row's reason is the first
-- rule it breaks (`column:rule`). Duplicates are declared in dedup.toml beside this file.
SELECT
    ts, user_id, item_id, weight, _file,
    CASE
        WHEN ts IS NULL THEN 'ts:null'
        WHEN user_id IS NULL THEN 'user_id:null'
        WHEN user_id <= 0 THEN 'user_id:not_positive'
        WHEN item_id IS NULL THEN 'item_id:null'
        WHEN item_id <= 0 THEN 'item_id:not_positive'
        WHEN weight IS NULL THEN 'weight:null'
        WHEN isnan(weight) THEN 'weight:nan'
        WHEN ts > $now THEN 'ts:future'
        WHEN ts < $tolerated_start OR ts >= $tolerated_end THEN 'ts:outside_day'
    END AS rule,
    CASE WHEN ts < $day_start OR ts >= $day_end THEN 'ts:outside_day_tolerated' END AS note
FROM raw
