-- Q1 Partner data quality: completeness of key fields
-- Measures: per partner, table and financial year of the event, the % of
--   rows with each key field filled: the person pseudonym, age, sex and
--   home LSOA where the source records people, and the LSOA where it
--   happened where the source records places.
-- The fields each table is checked on are in event_fields (generated
--   from the source registry: the fields its extracts have columns for).
-- Parameters: none.
-- Denominator: rows of the partner's table in the period (every version).
-- rows_not_in_lookup: for the LSOA fields, rows whose code is filled but
--   not in the LSOA lookup (a typing error, or a 2021 code where the lookup
--   has 2011 ones): filled, yet no measure can place them. NULL for the
--   other fields.
WITH e AS (
    SELECT a.*, fy.period,
           a.home_lsoa IS NOT NULL AND hl.lsoa_code IS NULL AS home_unplaced,
           a.event_lsoa IS NOT NULL AND el.lsoa_code IS NULL AS event_unplaced
    FROM all_events a
    JOIN financial_years fy ON a.occurred_at >= fy.start_ts AND a.occurred_at < fy.end_ts
    LEFT JOIN lsoa_lookup hl ON hl.lsoa_code = a.home_lsoa
    LEFT JOIN lsoa_lookup el ON el.lsoa_code = a.event_lsoa
),
filled AS (
    SELECT period, partner, table_name, count(*) AS rows_total, count(subject) AS subject, count(age) AS age, count(sex) AS sex,
           count(home_lsoa) AS home_lsoa, count(event_lsoa) AS event_lsoa,
           sum(CASE WHEN home_unplaced THEN 1 ELSE 0 END) AS home_unplaced,
           sum(CASE WHEN event_unplaced THEN 1 ELSE 0 END) AS event_unplaced
    FROM e GROUP BY period, partner, table_name
)
SELECT f.period, f.partner, f.table_name, d.field, f.rows_total,
       CASE d.field WHEN 'subject' THEN f.subject WHEN 'age' THEN f.age WHEN 'sex' THEN f.sex WHEN 'home_lsoa' THEN f.home_lsoa ELSE f.event_lsoa END AS rows_filled,
       round(CASE d.field WHEN 'subject' THEN f.subject WHEN 'age' THEN f.age WHEN 'sex' THEN f.sex WHEN 'home_lsoa' THEN f.home_lsoa ELSE f.event_lsoa END
             * 100.0 / f.rows_total, 1) AS pct_complete,
       CASE d.field WHEN 'home_lsoa' THEN f.home_unplaced WHEN 'event_lsoa' THEN f.event_unplaced END AS rows_not_in_lookup
FROM filled f
JOIN event_fields d ON d.table_name = f.table_name
ORDER BY f.period, f.partner, f.table_name, d.ordinal
