-- Interactions usable as features for day $date (same rule as watches_before.sql).
-- value_milli: thousandths of a coin, summed as integers (order-independent, exact).
SELECT
    dt, ts, user_id, anchor_id, live_id, kind, value,
    CAST(ROUND(value * 1000.0) AS BIGINT) AS value_milli
FROM interactions
WHERE ts < $day_start
