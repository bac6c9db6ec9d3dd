-- recall_metrics/dt=$date: offline recall evaluation of the candidates of day $date against
-- day $date + 1. Evaluated users: those with an anchor watched >= $like_threshold_s on D+1;
-- the truth is that set of anchors. For each channel and K in (10, 50): HR@K (share of users
-- with a hit), recall@K (hits / truth size, averaged over users), NDCG@K, and coverage
-- (distinct anchors in the channel's top-K lists / anchors in the snapshot). The heat ranking
-- of $date, the same list for everyone, is the baseline. Users a channel has nothing for
-- count as misses, so every channel is scored on the same users.
-- target = 'all': every anchor watched on D+1; target = 'new': only anchors the user did not
-- already like in the item-CF window (discovery, what an exclude-liked channel is for).
WITH watched AS (
    SELECT user_id, anchor_id
    FROM next_watches
    WHERE duration_s >= 0
    GROUP BY user_id, anchor_id
    HAVING SUM(duration_s) >= $like_threshold_s
),
truth AS (
    SELECT 'all' AS target, user_id, anchor_id FROM watched
    UNION ALL
    SELECT 'new' AS target, w.user_id, w.anchor_id
    FROM watched w
    LEFT JOIN liked_before l ON l.user_id = w.user_id AND l.anchor_id = w.anchor_id
    WHERE l.user_id IS NULL
),
truth_size AS (
    SELECT target, user_id, COUNT(*) AS n FROM truth GROUP BY target, user_id
),
ks AS (
    SELECT CAST(column1 AS BIGINT) AS k FROM (VALUES (10), (50))
),
evaluated AS (
    SELECT DISTINCT user_id FROM watched
),
lists AS (
    SELECT c.user_id, c.anchor_id, c.source AS channel, c.rank
    FROM candidates c
    JOIN evaluated e ON e.user_id = c.user_id
    UNION ALL
    SELECT e.user_id, h.anchor_id, 'heat' AS channel, h.rank
    FROM evaluated e
    CROSS JOIN heat h
    WHERE h.rank <= 50
),
per_user AS (
    SELECT t.target, l.channel, ks.k, l.user_id,
           COUNT(*) AS hits,
           SUM(1.0 / log2(CAST(l.rank AS DOUBLE) + 1.0)) AS dcg
    FROM lists l
    JOIN truth t ON t.user_id = l.user_id AND t.anchor_id = l.anchor_id
    JOIN ks ON l.rank <= ks.k
    GROUP BY t.target, l.channel, ks.k, l.user_id
),
ideal AS (
    -- IDCG@K: the user's relevant anchors placed at ranks 1 .. min(n, K).
    SELECT r.target, r.user_id, ks.k, SUM(1.0 / log2(CAST(r.position AS DOUBLE) + 1.0)) AS idcg
    FROM (
        SELECT target, user_id,
               ROW_NUMBER() OVER (PARTITION BY target, user_id ORDER BY anchor_id) AS position
        FROM truth
    ) r
    JOIN ks ON r.position <= ks.k
    GROUP BY r.target, r.user_id, ks.k
),
channels AS (
    SELECT DISTINCT channel FROM lists
),
scores AS (
    SELECT i.target, c.channel, i.k, i.user_id,
           CASE WHEN COALESCE(p.hits, 0) > 0 THEN 1.0 ELSE 0.0 END AS hit,
           CAST(COALESCE(p.hits, 0) AS DOUBLE) / CAST(t.n AS DOUBLE) AS recall,
           COALESCE(p.dcg, 0.0) / i.idcg AS ndcg
    FROM channels c
    CROSS JOIN ideal i
    JOIN truth_size t ON t.target = i.target AND t.user_id = i.user_id
    LEFT JOIN per_user p
        ON p.target = i.target AND p.channel = c.channel AND p.k = i.k AND p.user_id = i.user_id
),
coverage AS (
    SELECT l.channel, ks.k, COUNT(DISTINCT l.anchor_id) AS anchors
    FROM lists l
    JOIN ks ON l.rank <= ks.k
    GROUP BY l.channel, ks.k
)
SELECT
    s.target,
    s.channel,
    s.k,
    COUNT(*) AS users,
    -- Rounded to 9 decimals: averages of floats differ in the last bits with row order.
    ROUND(AVG(s.hit), 9) AS hr,
    ROUND(AVG(s.recall), 9) AS recall,
    ROUND(AVG(s.ndcg), 9) AS ndcg,
    CAST(c.anchors AS DOUBLE) / CAST((SELECT COUNT(*) FROM anchors) AS DOUBLE) AS coverage
FROM scores s
JOIN coverage c ON c.channel = s.channel AND c.k = s.k
GROUP BY s.target, s.channel, s.k, c.anchors
-- `s.k + 0`, not `s.k`: DataFusion 55 drops a plain `k` from this sort key (it wrongly
-- derives that target and channel determine k), leaving K=50 rows before K=10.
ORDER BY s.target, s.channel, s.k + 0
