-- item_recall_metrics/dt=$date: the candidates built from events up to $date against the
-- items users like in the $holdout_days days after it (a time split: the last interactions
-- are held out). Evaluated users: those with a held-out like who had likes before (the
-- popular channel lists every such user); a channel with nothing for a user counts a miss.
-- Per channel and K in (10, 50): HR@K (share of users with a hit), recall@K (hits / held-out
-- likes, averaged over users) and NDCG@K.
WITH truth AS (
    SELECT user_id, item_id
    FROM heldout
    GROUP BY user_id, item_id
    HAVING SUM(CAST(ROUND(weight * 1e6) AS BIGINT)) >= $like_weight * 1e6
),
evaluated AS (
    SELECT DISTINCT t.user_id
    FROM truth t
    JOIN item_candidates c ON c.user_id = t.user_id AND c.source = 'popular'
),
truth_size AS (
    SELECT t.user_id, COUNT(*) AS n
    FROM truth t
    JOIN evaluated e ON e.user_id = t.user_id
    GROUP BY t.user_id
),
ks AS (
    SELECT CAST(column1 AS BIGINT) AS k FROM (VALUES (10), (50))
),
per_user AS (
    SELECT c.source AS channel, ks.k, c.user_id,
           COUNT(*) AS hits,
           SUM(1.0 / log2(CAST(c.rank AS DOUBLE) + 1.0)) AS dcg
    FROM item_candidates c
    JOIN truth t ON t.user_id = c.user_id AND t.item_id = c.item_id
    JOIN ks ON c.rank <= ks.k
    GROUP BY c.source, ks.k, c.user_id
),
ideal AS (
    SELECT r.user_id, ks.k, SUM(1.0 / log2(CAST(r.position AS DOUBLE) + 1.0)) AS idcg
    FROM (
        SELECT t.user_id, ROW_NUMBER() OVER (PARTITION BY t.user_id ORDER BY t.item_id) AS position
        FROM truth t
        JOIN evaluated e ON e.user_id = t.user_id
    ) r
    JOIN ks ON r.position <= ks.k
    GROUP BY r.user_id, ks.k
),
channels AS (
    SELECT DISTINCT source AS channel FROM item_candidates
),
scores AS (
    SELECT c.channel, i.k, i.user_id,
           CASE WHEN COALESCE(p.hits, 0) > 0 THEN 1.0 ELSE 0.0 END AS hit,
           CAST(COALESCE(p.hits, 0) AS DOUBLE) / CAST(t.n AS DOUBLE) AS recall,
           COALESCE(p.dcg, 0.0) / i.idcg AS ndcg
    FROM channels c
    CROSS JOIN ideal i
    JOIN truth_size t ON t.user_id = i.user_id
    LEFT JOIN per_user p ON p.channel = c.channel AND p.k = i.k AND p.user_id = i.user_id
)
SELECT
    channel,
    k,
    COUNT(*) AS users,
    -- Rounded to 9 decimals: averages of floats differ in the last bits with row order.
    ROUND(AVG(hit), 9) AS hr,
    ROUND(AVG(recall), 9) AS recall,
    ROUND(AVG(ndcg), 9) AS ndcg
FROM scores
GROUP BY channel, k
-- `k + 0`: see recall/eval.sql (DataFusion 55 drops a plain `k` from this sort key).
ORDER BY channel, k + 0
