-- Exposures usable as features for day $date (same rule as watches_before.sql).
SELECT dt, ts, user_id, anchor_id, live_id
FROM exposures
WHERE ts < $day_start
