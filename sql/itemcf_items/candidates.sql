-- item_candidates/dt=$date: per-user candidates from two channels, each ranked within the
-- user (ties by item_id), $candidates_per_user per user and channel:
--   itemcf:  the view itemcf_channel (itemcf/itemcf_channel.sql), ranked there.
--   popular: the baseline, the most-liked items of the window (the same list for everyone),
--            score = their number of likes, without u's own likes when $exclude_liked.
-- Users without likes in the window get nothing.
WITH popularity AS (
    SELECT anchor_id, COUNT(*) AS likes
    FROM likes
    GROUP BY anchor_id
),
top_popular AS (
    -- Twice the list length, so a user's own likes can be left out and enough remain.
    SELECT anchor_id, likes
    FROM (
        SELECT *, ROW_NUMBER() OVER (ORDER BY likes DESC, anchor_id) AS position
        FROM popularity
    ) p
    WHERE position <= 2 * $candidates_per_user
),
popular AS (
    SELECT u.user_id, p.anchor_id, 'popular' AS source, CAST(p.likes AS DOUBLE) AS score
    FROM (SELECT DISTINCT user_id FROM likes) u
    CROSS JOIN top_popular p
    LEFT JOIN likes l ON l.user_id = u.user_id AND l.anchor_id = p.anchor_id
    WHERE $exclude_liked = false OR l.user_id IS NULL
),
ranked AS (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY score DESC, anchor_id) AS rank
    FROM popular
),
channels AS (
    -- itemcf_channel comes ranked and cut already.
    SELECT user_id, anchor_id, source, score, rank FROM itemcf_channel
    UNION ALL
    SELECT user_id, anchor_id, source, score, rank FROM ranked WHERE rank <= $candidates_per_user
)
SELECT user_id, anchor_id AS item_id, source, score, rank
FROM channels
ORDER BY user_id, source, rank
