-- samples/dt=$date: watch-based training samples of label day $date (rows in the label
-- band between the thresholds are dropped; see checks/sample_counts.sql).
SELECT
    l.user_id,
    l.anchor_id,
    l.label,
    l.watch_s,
    l.watch_cnt,
    f.* EXCLUDE (user_id, anchor_id)
FROM label_pairs l
JOIN pair_features f ON f.user_id = l.user_id AND f.anchor_id = l.anchor_id
WHERE l.label IS NOT NULL
ORDER BY l.user_id, l.anchor_id
