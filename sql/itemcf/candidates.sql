-- candidates/dt=$date: per-user recall candidates from three channels, each ranked within
-- the user (ties by anchor_id):
--   itemcf: the view itemcf_channel (itemcf/itemcf_channel.sql), ranked there.
--   follow: anchors u follows (a follow in the window) or watched on 2+ days; live platforms
--           are dominated by repeat consumption. score = watch days + 10 if followed.
--   hot:    the hottest anchors of heat/dt=$date in u's favourite categories (by watch
--           time), score = heat * the category's share of u's watch time.
-- Each channel keeps $candidates_per_user per user, so enough survive serving's
-- "is live now" filter. Users without history get no itemcf/hot rows: serving falls back to
-- the heat table itself.
WITH followed AS (
    SELECT DISTINCT user_id, anchor_id
    FROM interactions
    WHERE kind = 'follow'
),
watch_days AS (
    -- Days counted as integers ($date - dt): DataFusion counts distinct integers in one
    -- vectorised hash set, distinct dates group by group (docs/benchmarks.md).
    SELECT user_id, anchor_id, COUNT(DISTINCT $date - dt) AS days
    FROM tile_watches
    GROUP BY user_id, anchor_id
),
follow AS (
    SELECT
        COALESCE(f.user_id, w.user_id) AS user_id,
        COALESCE(f.anchor_id, w.anchor_id) AS anchor_id,
        'follow' AS source,
        CAST(COALESCE(w.days, 0) AS DOUBLE) + CASE WHEN f.user_id IS NOT NULL THEN 10.0 ELSE 0.0 END AS score
    FROM followed f
    FULL OUTER JOIN (SELECT * FROM watch_days WHERE days >= 2) w
        ON w.user_id = f.user_id AND w.anchor_id = f.anchor_id
),
category_time AS (
    -- Integer milliseconds: exact sums, so shares do not depend on row order.
    SELECT l.user_id, COALESCE(a.category, 'unknown') AS category, SUM(l.watch_ms) AS watch_ms
    FROM likes l
    LEFT JOIN anchors a ON a.anchor_id = l.anchor_id
    GROUP BY l.user_id, COALESCE(a.category, 'unknown')
),
category_share AS (
    SELECT
        user_id,
        category,
        CAST(watch_ms AS DOUBLE) / CAST(SUM(watch_ms) OVER (PARTITION BY user_id) AS DOUBLE) AS share
    FROM category_time
),
hot AS (
    -- Each favourite category contributes its hottest anchors in proportion to its share,
    -- so a user gets about $candidates_per_user rows, not every anchor of their categories.
    SELECT c.user_id, h.anchor_id, 'hot' AS source, h.heat * c.share AS score
    FROM category_share c
    JOIN heat h
        ON h.category = c.category
       AND h.category_rank <= CEIL(c.share * CAST($candidates_per_user AS DOUBLE))
),
other_channels AS (
    SELECT * FROM follow
    UNION ALL SELECT * FROM hot
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY user_id, source ORDER BY score DESC, anchor_id) AS rank
    FROM other_channels
),
all_channels AS (
    -- itemcf_channel comes ranked and cut already.
    SELECT user_id, anchor_id, source, score, rank FROM itemcf_channel
    UNION ALL
    SELECT user_id, anchor_id, source, score, rank FROM ranked WHERE rank <= $candidates_per_user
)
SELECT user_id, anchor_id, source, score, rank
FROM all_channels
ORDER BY user_id, source, rank
