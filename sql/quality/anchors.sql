-- Row rules of `anchors` on day $date (docs/data-quality.md). A row's reason is the first
-- rule it breaks (`column:rule`); rows with a reason are quarantined, the rest are what the
-- jobs read. Duplicates are declared in dedup.toml beside this file.
-- Attributes may be NULL (unknown); an impossible age is quarantined.
SELECT
    anchor_id, gender, age, city, category, _file,
    CASE
        WHEN anchor_id IS NULL THEN 'anchor_id:null'
        WHEN anchor_id <= 0 THEN 'anchor_id:not_positive'
        WHEN age < 0 OR age > $max_age THEN 'age:out_of_range'
    END AS rule,
    CAST(NULL AS VARCHAR) AS note
FROM raw
