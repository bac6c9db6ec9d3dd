-- The itemcf channel of the candidates: each user's top $candidates_per_user items
-- (anchors) b by score(u, b) = sum over items a that u likes of sim(a, b), over a's top
-- neighbours; items u already likes are left out when $exclude_liked; ties by anchor_id.
-- Rows (user_id, anchor_id, source, score, rank). Shared by the platform's itemcf job and
-- itemcf_items (where `anchor_id` holds the item). The definition in plain SQL is
-- sql/itemcf/reference/itemcf_channel.sql; the itemcf_candidates UDAF
-- (udfs/src/itemcf_candidates.rs) sums each user's candidates in a small hash map and ranks
-- only those, instead of joining out, grouping, anti-joining and window-ranking every
-- (user, candidate) pair.
WITH neighbour_lists AS (
    SELECT anchor_id, array_agg(named_struct('id', neighbor_id, 'score', score)) AS neighbours
    FROM sim
    GROUP BY anchor_id
),
top AS (
    SELECT
        l.user_id,
        -- Every like counts as liked, with or without neighbours of its own.
        itemcf_candidates(n.neighbours, l.anchor_id, $candidates_per_user, $exclude_liked) AS top
    FROM likes l
    LEFT JOIN neighbour_lists n ON n.anchor_id = l.anchor_id
    GROUP BY l.user_id
),
flat AS (
    SELECT user_id, unnest(top) AS c FROM top
)
SELECT user_id, c['anchor_id'] AS anchor_id, 'itemcf' AS source, c['score'] AS score, c['rank'] AS rank
FROM flat
