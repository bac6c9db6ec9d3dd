-- Row rules of the `users` snapshot of day $date (docs/data-quality.md). Attributes may be
-- NULL (unknown); an impossible age is quarantined. Duplicates: one row per user_id; of
-- conflicting rows the one with the latest register_dt is kept (then by the other columns,
-- so the choice is deterministic).
WITH checked AS (
    SELECT
        user_id, gender, age, city, register_dt, _file,
        CASE
            WHEN user_id IS NULL THEN 'user_id:null'
            WHEN user_id <= 0 THEN 'user_id:not_positive'
            WHEN age < 0 OR age > $max_age THEN 'age:out_of_range'
        END AS rule,
        CAST(NULL AS VARCHAR) AS note
    FROM raw
)
SELECT
    user_id, gender, age, city, register_dt, _file,
    COALESCE(rule, CASE WHEN ROW_NUMBER() OVER (
        PARTITION BY rule IS NULL, user_id
        ORDER BY register_dt DESC NULLS LAST, gender, age, city, _file
    ) > 1 THEN 'row:duplicate' END) AS reason,
    note
FROM checked
