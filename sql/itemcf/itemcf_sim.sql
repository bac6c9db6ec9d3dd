-- The similarity table of $date (written as itemcf_sim by sim_output.sql): the top $neighbors neighbours of each anchor by similarity
-- ($similarity: cosine = co / sqrt(n_a n_b); jaccard = co / (n_a + n_b - co);
-- lift = co * U / (n_a n_b), U = users with any like), ties by neighbor_id. With IUF or time
-- decay on (likes.sql), co and n are their weighted versions dot and norm2.
WITH scored AS (
    SELECT
        anchor_id,
        neighbor_id,
        cooccurrence,
        CASE
            WHEN $similarity = 'jaccard' THEN dot / (norm2_anchor + norm2_neighbor - dot)
            WHEN $similarity = 'lift' THEN dot * CAST((SELECT COUNT(DISTINCT user_id) FROM likes) AS DOUBLE)
                / (norm2_anchor * norm2_neighbor)
            ELSE dot / sqrt(norm2_anchor * norm2_neighbor)
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
