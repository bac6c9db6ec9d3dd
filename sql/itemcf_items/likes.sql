-- Likes in generic item events over the window $date-(window_days-1) .. $date: a user likes
-- an item when the weights of their events with it add up to at least $like_weight (summed
-- in integer millionths, so the sum does not depend on row order; for ratings, one rating
-- >= $like_weight). With $max_items_per_user > 0 only the user's heaviest items are kept.
-- The columns are those of the platform's likes (itemcf/likes.sql), `anchor_id` holding
-- the item, so item-CF's co-occurrence and similarity SQL run unchanged; x is the like's
-- weight in co-occurrences (IUF and time decay as there); `weight` is the summed event weight
-- (ALS's confidence input).
WITH totals AS (
    SELECT
        user_id,
        item_id,
        SUM(CAST(ROUND(weight * 1e6) AS BIGINT)) AS total_micro,
        MAX(dt) AS last_dt
    FROM item_events
    GROUP BY user_id, item_id
),
liked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY total_micro DESC, item_id) AS user_rank
    FROM totals
    WHERE total_micro >= $like_weight * 1e6
),
kept AS (
    SELECT *, COUNT(*) OVER (PARTITION BY user_id) AS user_likes
    FROM liked
    WHERE $max_items_per_user = 0 OR user_rank <= $max_items_per_user
)
SELECT
    user_id,
    item_id AS anchor_id,
    CAST(total_micro AS DOUBLE) / 1e6 AS weight,
    CASE WHEN $iuf THEN sqrt(1.0 / ln(1.0 + CAST(user_likes AS DOUBLE))) ELSE 1.0 END
        * CASE
            WHEN $half_life_days > 0
                THEN power(0.5, CAST($date - last_dt AS DOUBLE) / $half_life_days)
            ELSE 1.0
          END AS x
FROM kept
