-- tile_interactions/dt=$date: the interactions of partition $date per (user, anchor,
-- ts_day) (see tile_watches.sql for ts_day): gift value in whole thousandths and counts by
-- kind, what the profiles sum over their window.
SELECT
    user_id,
    anchor_id,
    CAST(ts AS DATE) AS ts_day,
    SUM(CASE WHEN kind = 'gift' THEN CAST(ROUND(value * 1000.0) AS BIGINT) ELSE 0 END) AS gift_milli,
    SUM(CASE WHEN kind = 'gift' THEN 1 ELSE 0 END) AS gift_cnt,
    SUM(CASE WHEN kind = 'comment' THEN 1 ELSE 0 END) AS comment_cnt,
    SUM(CASE WHEN kind = 'follow' THEN 1 ELSE 0 END) AS follow_cnt,
    SUM(CASE WHEN kind IN ('comment', 'like', 'share') THEN 1 ELSE 0 END) AS engage_cnt,
    COUNT(*) AS event_cnt
FROM interactions
GROUP BY user_id, anchor_id, CAST(ts AS DATE)
ORDER BY user_id, anchor_id, ts_day
