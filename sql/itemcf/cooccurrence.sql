-- co(a, b): users liking both a and b, for pairs with co >= $min_cooccurrence, with
-- n_a, n_b (users liking each). The pair generation costs sum over users of likes^2.
WITH counts AS (
    SELECT anchor_id, COUNT(*) AS n
    FROM likes
    GROUP BY anchor_id
),
pairs AS (
    SELECT l1.anchor_id AS anchor_id, l2.anchor_id AS neighbor_id, COUNT(*) AS cooccurrence
    FROM likes l1
    JOIN likes l2 ON l1.user_id = l2.user_id AND l1.anchor_id <> l2.anchor_id
    GROUP BY l1.anchor_id, l2.anchor_id
    HAVING COUNT(*) >= $min_cooccurrence
)
SELECT p.anchor_id, p.neighbor_id, p.cooccurrence, ca.n AS n_anchor, cb.n AS n_neighbor
FROM pairs p
JOIN counts ca ON ca.anchor_id = p.anchor_id
JOIN counts cb ON cb.anchor_id = p.neighbor_id
