-- itemcf_sim/dt=$date: (anchor_id, neighbor_id, score, cooccurrence, rank), sorted.
SELECT anchor_id, neighbor_id, score, cooccurrence, rank
FROM sim
ORDER BY anchor_id, rank
