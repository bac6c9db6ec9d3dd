-- co(a, b): users liking both a and b, for pairs with co >= $min_cooccurrence, with
-- n_a, n_b (users liking each). The pair generation costs sum over users of likes^2.
-- The weighted versions (likes.sql's x): dot = sum_u x_ua x_ub and norm2_a = sum_u x_ua^2,
-- summed as integers of 1e-9 so they do not depend on row order; with the options off
-- they equal co and n_a exactly.
WITH counts AS (
    SELECT
        anchor_id,
        COUNT(*) AS n,
        CAST(SUM(CAST(ROUND(x * x * 1e9) AS BIGINT)) AS DOUBLE) / 1e9 AS norm2
    FROM likes
    GROUP BY anchor_id
),
pairs AS (
    SELECT
        l1.anchor_id AS anchor_id,
        l2.anchor_id AS neighbor_id,
        COUNT(*) AS cooccurrence,
        CAST(SUM(CAST(ROUND(l1.x * l2.x * 1e9) AS BIGINT)) AS DOUBLE) / 1e9 AS dot
    FROM likes l1
    JOIN likes l2 ON l1.user_id = l2.user_id AND l1.anchor_id <> l2.anchor_id
    GROUP BY l1.anchor_id, l2.anchor_id
    HAVING COUNT(*) >= $min_cooccurrence
)
SELECT
    p.anchor_id, p.neighbor_id, p.cooccurrence, p.dot,
    ca.n AS n_anchor, cb.n AS n_neighbor, ca.norm2 AS norm2_anchor, cb.norm2 AS norm2_neighbor
FROM pairs p
JOIN counts ca ON ca.anchor_id = p.anchor_id
JOIN counts cb ON cb.anchor_id = p.neighbor_id
