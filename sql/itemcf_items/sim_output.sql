-- item_sim/dt=$date: (item_id, neighbor_id, score, cooccurrence, rank), sorted.
SELECT anchor_id AS item_id, neighbor_id, score, cooccurrence, rank
FROM sim
ORDER BY item_id, rank
