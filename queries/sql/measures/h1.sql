-- H1 Serious violence offences
-- Measures: police-recorded offences in the serious-violence definition,
--   per category and in total, per financial year and area (the focus area
--   as a whole and each local authority), where the offence happened.
--   Anti-social behaviour incidents are in the definition but counted
--   separately (category 'asb'): incidents, not crimes, never in the total.
-- Parameters: the definition (table sv_classification, --definition),
--   the focus area (focus_area), financial years covered by the data.
-- Denominator: ONS mid-year population of the area, all ages, from the
--   nearest available mid-year (population_year); rate per 1,000 residents.
-- Change: on the previous financial year, absolute and %; NULL where the
--   previous year is not covered by the data or had no offences (for %).
WITH cats AS (
    SELECT category, ordinal FROM sv_categories
    UNION ALL SELECT 'total', 1000
    UNION ALL SELECT 'asb', 1001
),
placed AS (
    SELECT fy_start, category, 'focus' AS area_code FROM crimes WHERE category IS NOT NULL AND in_focus
    UNION ALL
    SELECT fy_start, category, la_code FROM crimes WHERE category IS NOT NULL AND la_code IS NOT NULL
),
asb AS (
    SELECT CAST(CASE WHEN date_part('month', a.occurred_at) >= 4 THEN date_part('year', a.occurred_at)
                     ELSE date_part('year', a.occurred_at) - 1 END AS INT) AS fy_start,
           l.la_code, f.la_code IS NOT NULL AS in_focus
    FROM police_asb a
    JOIN lsoa_lookup l ON l.lsoa_code = a.event_lsoa
    LEFT JOIN focus_area f ON f.la_code = l.la_code
),
counts AS (
    SELECT fy_start, area_code, category, count(*) AS n FROM placed GROUP BY fy_start, area_code, category
    UNION ALL
    SELECT fy_start, area_code, 'total', count(*) FROM placed GROUP BY fy_start, area_code
    UNION ALL
    SELECT fy_start, 'focus', 'asb', count(*) FROM asb WHERE in_focus GROUP BY fy_start
    UNION ALL
    SELECT fy_start, la_code, 'asb', count(*) FROM asb GROUP BY fy_start, la_code
),
pop AS (
    SELECT area_code, year, sum(population) AS population FROM area_population GROUP BY area_code, year
),
grid AS (
    SELECT y.fy_start, y.period, a.area_code, a.area_name, a.area_type, a.ordinal AS area_ordinal, c.category, c.ordinal
    FROM data_years y CROSS JOIN areas a CROSS JOIN cats c
)
SELECT g.period,
       g.area_type,
       g.area_code,
       g.area_name,
       g.category,
       coalesce(cur.n, 0) AS offences,
       pop.population,
       py.population_year,
       round(coalesce(cur.n, 0) * 1000.0 / pop.population, 2) AS rate_per_1000,
       prevy.period AS previous_period,
       CASE WHEN prevy.fy_start IS NOT NULL THEN coalesce(prev.n, 0) END AS previous_offences,
       CASE WHEN prevy.fy_start IS NOT NULL THEN coalesce(cur.n, 0) - coalesce(prev.n, 0) END AS change,
       CASE WHEN prevy.fy_start IS NOT NULL AND coalesce(prev.n, 0) > 0
            THEN round((coalesce(cur.n, 0) - prev.n) * 100.0 / prev.n, 1) END AS change_pct
FROM grid g
LEFT JOIN counts cur ON cur.fy_start = g.fy_start AND cur.area_code = g.area_code AND cur.category = g.category
LEFT JOIN data_years prevy ON prevy.fy_start = g.fy_start - 1
LEFT JOIN counts prev ON prev.fy_start = g.fy_start - 1 AND prev.area_code = g.area_code AND prev.category = g.category
LEFT JOIN fy_population_year py ON py.fy_start = g.fy_start
LEFT JOIN pop ON pop.area_code = g.area_code AND pop.year = py.population_year
ORDER BY g.period, g.area_ordinal, g.area_code, g.ordinal
