-- exposure_samples/dt=$date: entire-space samples (ESMM-ready) of day $date with the
-- labels click, watch30 and gift, and the sampling weight of downsampled negatives.
SELECT
    e.user_id,
    e.anchor_id,
    e.click,
    e.watch30,
    e.gift,
    e.watch_s,
    e.expo_cnt,
    e.best_position,
    e.sample_weight,
    f.* EXCLUDE (user_id, anchor_id)
FROM exposure_pairs e
JOIN pair_features f ON f.user_id = e.user_id AND f.anchor_id = e.anchor_id
ORDER BY e.user_id, e.anchor_id
