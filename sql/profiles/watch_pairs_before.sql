-- Each (user, anchor) pair's watches in the window, summed once from the watch tiles
-- (feature_watch_tiles): the user, anchor, user-anchor and user-category profiles all read
-- these pairs instead of each re-aggregating every tile row (a pair watched on several days
-- has a tile row per day). Sums of whole milliseconds and counts are exact in any order, so
-- the profiles stay bit-identical to the reference. The days of the window a pair was
-- watched (partition $date - k, k = 1 .. $profile_days <= 90) are the bits k-1 of `days_lo`
-- (k <= 64) and k-65 of `days_hi`: a user's or an anchor's active days are the bits set in
-- the OR of its pairs' masks (`bit_count`, udfs/), with no count of distinct days over the
-- tiles.
SELECT
    user_id,
    anchor_id,
    SUM(watch_ms) AS watch_ms,
    SUM(watch_cnt) AS watch_cnt,
    SUM(long_cnt) AS long_cnt,
    SUM(bounce_cnt) AS bounce_cnt,
    MAX(last_ts) AS last_ts,
    bit_or(CASE WHEN $date - dt <= 64 THEN CAST(1 AS BIGINT) << ($date - dt - 1) ELSE 0 END) AS days_lo,
    bit_or(CASE WHEN $date - dt > 64 THEN CAST(1 AS BIGINT) << ($date - dt - 65) ELSE 0 END) AS days_hi
FROM feature_watch_tiles
GROUP BY user_id, anchor_id
