-- The reference definition of the `sim` view in plain SQL: each anchor's top $neighbors
-- neighbours (anchor_id, neighbor_id, score, cooccurrence, rank). sql/itemcf/neighbours.sql
-- computes exactly this with the item_neighbours UDAF (a SQL self-join takes six to eight
-- times as long); this file is what the DuckDB peer runs (bench/duckdb_peer.py) and what
-- tests/itemcf.rs runs against the job's output.
-- co(a, b): users liking both a and b, for pairs with co >= $min_cooccurrence; the weighted
-- versions (likes.sql's x): dot = sum_u x_ua x_ub and norm2_a = sum_u x_ua^2, summed as
-- integers of 1e-9 so they do not depend on row order; with the options off they equal co
-- and n_a exactly. $similarity: cosine = sqrt(dot^2 / (norm2_a norm2_b)); jaccard =
-- dot / (norm2_a + norm2_b - dot); lift = dot * U / (norm2_a norm2_b), U = users with any
-- like. Ties by neighbor_id.
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
),
cooccurrence AS (
    SELECT
        p.anchor_id, p.neighbor_id, p.cooccurrence, p.dot,
        ca.n AS n_anchor, cb.n AS n_neighbor, ca.norm2 AS norm2_anchor, cb.norm2 AS norm2_neighbor
    FROM pairs p
    JOIN counts ca ON ca.anchor_id = p.anchor_id
    JOIN counts cb ON cb.anchor_id = p.neighbor_id
),
scored AS (
    SELECT
        anchor_id,
        neighbor_id,
        cooccurrence,
        CASE
            WHEN $similarity = 'jaccard' THEN dot / (norm2_anchor + norm2_neighbor - dot)
            WHEN $similarity = 'lift' THEN dot * CAST((SELECT COUNT(DISTINCT user_id) FROM likes) AS DOUBLE)
                / (norm2_anchor * norm2_neighbor)
            -- cosine as one rounded division under the root: equal cosines get equal doubles
            -- (2 / sqrt(4n) and 1 / sqrt(n) would not), so ties go to neighbor_id.
            ELSE sqrt(dot * dot / (norm2_anchor * norm2_neighbor))
        END AS score
    FROM cooccurrence
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY anchor_id ORDER BY score DESC, neighbor_id) AS rank
    FROM scored
)
SELECT anchor_id, neighbor_id, score, cooccurrence, rank
FROM ranked
WHERE rank <= $neighbors
