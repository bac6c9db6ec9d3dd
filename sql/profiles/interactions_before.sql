-- Interactions usable as features for day $date (same rule as watches_before.sql).
SELECT dt, ts, user_id, anchor_id, live_id, kind, value
FROM interactions
WHERE ts < $day_start
