-- tile_watches/dt=$date: the watches of partition $date (quality-cleaned) summed per
-- (user, anchor, ts_day), ts_day being the UTC day of the watch's ts (its partition's day but
-- for rows filed late or early within the quality tolerance). Profiles of day D merge the
-- tiles of D-N .. D-1 with ts_day < D: exactly the raw rows with ts < D that their
-- reference query (sql/profiles/reference/) reads. Sums are of whole milliseconds and
-- counts, so merged tiles give the reference's values bit for bit; `long_cnt` and
-- `bounce_cnt` depend on $long_watch_s and $bounce_s (the profiles' values, checked by
-- lineage); `last_ts` is the newest ts, for the hours since the last watch.
SELECT
    user_id,
    anchor_id,
    CAST(ts AS DATE) AS ts_day,
    SUM(CAST(ROUND(duration_s * 1000.0) AS BIGINT)) AS watch_ms,
    COUNT(*) AS watch_cnt,
    SUM(CASE WHEN duration_s >= $long_watch_s THEN 1 ELSE 0 END) AS long_cnt,
    SUM(CASE WHEN duration_s < $bounce_s THEN 1 ELSE 0 END) AS bounce_cnt,
    MAX(ts) AS last_ts
FROM watches
WHERE duration_s >= 0
GROUP BY user_id, anchor_id, CAST(ts AS DATE)
ORDER BY user_id, anchor_id, ts_day
