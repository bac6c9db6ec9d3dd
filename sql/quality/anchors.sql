-- Row rules of the `anchors` snapshot of day $date (docs/data-quality.md). Attributes may be
-- NULL (unknown); an impossible age is quarantined. Duplicates: one row per anchor_id; of
-- conflicting rows the first by (category, gender, age, city) is kept, deterministically.
WITH checked AS (
    SELECT
        anchor_id, gender, age, city, category, _file,
        CASE
            WHEN anchor_id IS NULL THEN 'anchor_id:null'
            WHEN anchor_id <= 0 THEN 'anchor_id:not_positive'
            WHEN age < 0 OR age > $max_age THEN 'age:out_of_range'
        END AS rule,
        CAST(NULL AS VARCHAR) AS note
    FROM raw
)
SELECT
    anchor_id, gender, age, city, category, _file,
    COALESCE(rule, CASE WHEN ROW_NUMBER() OVER (
        PARTITION BY rule IS NULL, anchor_id
        ORDER BY category, gender, age, city, _file
    ) > 1 THEN 'row:duplicate' END) AS reason,
    note
FROM checked
