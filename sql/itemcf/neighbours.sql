-- The similarity table of $date (written as itemcf_sim by sim_output.sql): each anchor's top
-- $neighbors neighbours (anchor_id, neighbor_id, score, cooccurrence, rank) by $similarity,
-- ties by neighbor_id. The definition, in plain SQL, is sql/itemcf/reference/sim.sql; the
-- item_neighbours UDAF (udfs/src/item_neighbours.rs) computes the same lists without
-- materializing the sum over users of likes^2 pairs as rows: each user's basket (everything
-- they like, with weights x and norms) goes to every bucket of anchors it touches, and per
-- bucket the co-occurrences are accumulated as a sparse matrix product does.
WITH counts AS (
    -- norm2_a = sum_u x_ua^2 in integers of 1e-9 (= n_a with the weighting options off).
    SELECT anchor_id, CAST(SUM(CAST(ROUND(x * x * 1e9) AS BIGINT)) AS DOUBLE) / 1e9 AS norm2
    FROM likes
    GROUP BY anchor_id
),
user_likes AS (
    SELECT
        l.user_id,
        array_agg(named_struct('id', l.anchor_id, 'x', l.x, 'norm2', c.norm2)) AS basket,
        -- The buckets (anchor_id mod $similarity_buckets) this basket has anchors in.
        array_distinct(array_agg(
            ((l.anchor_id % $similarity_buckets) + $similarity_buckets) % $similarity_buckets
        )) AS buckets
    FROM likes l
    JOIN counts c ON c.anchor_id = l.anchor_id
    GROUP BY l.user_id
    -- A user with one like has no pairs.
    HAVING COUNT(*) >= 2
),
bucket_baskets AS (
    SELECT
        unnest(buckets) AS bucket,
        basket,
        -- U = users with any like (for lift); evaluated once.
        (SELECT COUNT(DISTINCT user_id) FROM likes) AS users
    FROM user_likes
),
neighbours AS (
    SELECT
        item_neighbours(
            basket, bucket, $similarity_buckets, users, $similarity, $min_cooccurrence, $neighbors
        ) AS top
    FROM bucket_baskets
    GROUP BY bucket
),
flat AS (
    SELECT unnest(top) AS n FROM neighbours
)
SELECT
    n['anchor_id'] AS anchor_id,
    n['neighbor_id'] AS neighbor_id,
    n['score'] AS score,
    n['cooccurrence'] AS cooccurrence,
    n['rank'] AS rank
FROM flat
