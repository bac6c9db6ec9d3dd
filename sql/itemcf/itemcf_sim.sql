-- The similarity table of $date (written as itemcf_sim by sim_output.sql): the top $neighbors neighbours of each anchor by similarity
-- ($similarity: cosine = co / sqrt(n_a n_b); jaccard = co / (n_a + n_b - co);
-- lift = co * U / (n_a n_b), U = users with any like), ties by neighbor_id.
WITH scored AS (
    SELECT
        anchor_id,
        neighbor_id,
        cooccurrence,
        CASE
            WHEN $similarity = 'jaccard' THEN CAST(cooccurrence AS DOUBLE) / CAST(n_anchor + n_neighbor - cooccurrence AS DOUBLE)
            WHEN $similarity = 'lift' THEN CAST(cooccurrence AS DOUBLE) * CAST((SELECT COUNT(DISTINCT user_id) FROM likes) AS DOUBLE)
                / (CAST(n_anchor AS DOUBLE) * CAST(n_neighbor AS DOUBLE))
            ELSE CAST(cooccurrence AS DOUBLE) / sqrt(CAST(n_anchor AS DOUBLE) * CAST(n_neighbor AS DOUBLE))
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
