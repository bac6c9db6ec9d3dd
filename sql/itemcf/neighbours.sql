-- The similarity table of $date (written as itemcf_sim by sim_output.sql): each anchor's top
-- $neighbors neighbours (anchor_id, neighbor_id, score, cooccurrence, rank) by $similarity,
-- ties by neighbor_id. The definition, in plain SQL, is sql/itemcf/reference/sim.sql; the
-- item_neighbours UDAF (udfs/src/item_neighbours/) computes the same lists without
-- materializing the sum over users of likes^2 pairs as rows: per bucket of anchors
-- (anchor_id mod $similarity_buckets) it indexes the likes by user and by anchor and
-- accumulates co-occurrences as a sparse matrix product does.
-- Exactly one of the two routes below has rows ($similarity_buckets is bound before planning,
-- so the other folds to an empty relation).
WITH one_bucket AS (
    -- One bucket (the default): every like as it is; the UDAF computes each anchor's
    -- norm2 = sum_u x_ua^2 and the user count itself, since the bucket holds every like.
    SELECT
        0 AS bucket, user_id, anchor_id, x,
        CAST(NULL AS DOUBLE) AS norm2, CAST(NULL AS BIGINT) AS users
    FROM likes
    WHERE $similarity_buckets = 1
),
counts AS (
    -- norm2 in integers of 1e-9 (= n_a with the weighting options off), as the UDAF sums it.
    SELECT anchor_id, CAST(SUM(CAST(ROUND(x * x * 1e9) AS BIGINT)) AS DOUBLE) / 1e9 AS norm2
    FROM likes
    WHERE $similarity_buckets > 1
    GROUP BY anchor_id
),
user_buckets AS (
    -- The buckets each user has likes in.
    SELECT DISTINCT
        user_id,
        ((anchor_id % $similarity_buckets) + $similarity_buckets) % $similarity_buckets AS bucket
    FROM likes
    WHERE $similarity_buckets > 1
),
spread AS (
    -- More buckets (spread over cores or executors): each like goes to every bucket its user
    -- has a like in, with its anchor's norm2 (a bucket computes only its own anchors' norms)
    -- and U = users with any like (for lift).
    -- The smaller side of each join first: DataFusion builds its hash table on the left.
    SELECT
        b.bucket, n.user_id, n.anchor_id, n.x, n.norm2,
        (SELECT COUNT(DISTINCT user_id) FROM likes) AS users
    FROM user_buckets b
    JOIN (
        SELECT l.user_id, l.anchor_id, l.x, c.norm2
        FROM counts c
        JOIN likes l ON l.anchor_id = c.anchor_id
    ) n ON n.user_id = b.user_id
),
routed AS (
    SELECT * FROM one_bucket
    UNION ALL
    SELECT * FROM spread
),
neighbours AS (
    SELECT
        item_neighbours(
            user_id, anchor_id, x, bucket, $similarity_buckets, norm2, users,
            $similarity, $min_cooccurrence, $neighbors
        ) AS top
    FROM routed
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
