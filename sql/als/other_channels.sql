-- The rows of the candidates partition of $date (the view `channels`: candidates or
-- item_candidates) that the als job keeps when it adds its channel: every channel but 'als'
-- (an earlier als run's rows are replaced, never kept beside the new ones), in the order the
-- candidate jobs write them.
SELECT *
FROM channels
WHERE source <> 'als'
ORDER BY user_id, source, rank
