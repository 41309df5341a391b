-- H1 (public data) Serious violence offences in data.police.uk street-level data
-- Measures: rows of the published street-level data by broad crime type in
--   the serious-violence definition (table sv_crime_types: `police-uk-public`
--   unless the run's definition names crime types), per month, financial
--   year and calendar year, for the force area as published ('Falls within') and for each local
--   authority (from the LSOA name). Anti-social behaviour ('asb') is counted
--   separately, never in the total. Each published row is one crime or
--   incident; all rows count, including the few located in a neighbouring
--   force's area (they are in the force's own published figures).
-- Parameters: the definition's crime types.
-- Denominator: none (no populations are published with the data).
WITH rows_in AS (
    SELECT p.month, fy.period AS fy_period, cy.period AS cy_period, coalesce(p.falls_within, 'unknown') AS force, coalesce(p.la_name, 'unknown') AS la_name,
           CASE WHEN p.crime_type = 'Anti-social behaviour' THEN 'asb' ELSE t.category END AS category
    FROM police_uk_crimes p
    JOIN financial_years fy ON p.occurred_at >= fy.start_ts AND p.occurred_at < fy.end_ts
    JOIN calendar_years cy ON p.occurred_at >= cy.start_ts AND p.occurred_at < cy.end_ts
    LEFT JOIN sv_crime_types t ON t.crime_type = p.crime_type
),
placed AS (
    SELECT month AS period, 'month' AS period_type, 'force' AS area_type, force AS area_name, category FROM rows_in
    UNION ALL SELECT month, 'month', 'la', la_name, category FROM rows_in
    UNION ALL SELECT fy_period, 'financial_year', 'force', force, category FROM rows_in
    UNION ALL SELECT fy_period, 'financial_year', 'la', la_name, category FROM rows_in
    UNION ALL SELECT cy_period, 'calendar_year', 'force', force, category FROM rows_in
    UNION ALL SELECT cy_period, 'calendar_year', 'la', la_name, category FROM rows_in
),
cats AS (
    SELECT DISTINCT category FROM sv_crime_types
    UNION ALL SELECT 'total'
    UNION ALL SELECT 'asb'
),
keys AS (SELECT DISTINCT period, period_type, area_type, area_name FROM placed),
counts AS (
    SELECT period, period_type, area_type, area_name, category, count(*) AS n FROM placed WHERE category IS NOT NULL
    GROUP BY period, period_type, area_type, area_name, category
    UNION ALL
    SELECT period, period_type, area_type, area_name, 'total', count(*) FROM placed WHERE category IS NOT NULL AND category <> 'asb'
    GROUP BY period, period_type, area_type, area_name
)
SELECT k.period, k.period_type, k.area_type, k.area_name, c.category, coalesce(n.n, 0) AS offences
FROM keys k
CROSS JOIN cats c
LEFT JOIN counts n ON n.period = k.period AND n.period_type = k.period_type AND n.area_type = k.area_type AND n.area_name = k.area_name AND n.category = c.category
ORDER BY k.period_type, k.period, k.area_type, k.area_name, c.category
