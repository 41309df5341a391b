-- H1 Serious violence offences
-- Measures: police-recorded offences in the serious-violence definition,
--   per category and in total, per reporting period (each financial year
--   the data cover, and the rolling 12 months to params.as_of) and area
--   (the focus area as a whole and each local authority), placed where the
--   offence happened. Anti-social behaviour incidents are in the definition
--   but counted separately (category 'asb'): incidents, not crimes, never
--   in the total.
-- Parameters: the definition (table sv_classification, --definition), the
--   focus area (focus_area), params.as_of.
-- Denominator: ONS mid-year population of the area, all ages, from the
--   nearest available mid-year (population_year); rate per 1,000 residents.
-- Change: on the previous period of the same length, absolute and %; NULL
--   where the data do not cover it, or (for %) it had no offences.
WITH cats AS (
    SELECT category, ordinal FROM sv_categories
    UNION ALL SELECT 'total', 1000
    UNION ALL SELECT 'asb', 1001
),
events AS (
    SELECT area_code, category, occurred_at FROM placed_crimes WHERE category IS NOT NULL
    UNION ALL
    SELECT area_code, 'total', occurred_at FROM placed_crimes WHERE category IS NOT NULL
    UNION ALL
    SELECT 'focus', 'asb', a.occurred_at
    FROM police_asb a JOIN lsoa_lookup l ON l.lsoa_code = a.event_lsoa JOIN focus_area f ON f.la_code = l.la_code
    UNION ALL
    SELECT l.la_code, 'asb', a.occurred_at FROM police_asb a JOIN lsoa_lookup l ON l.lsoa_code = a.event_lsoa
),
counts AS (
    SELECT p.period, e.area_code, e.category, count(*) AS n
    FROM report_periods p JOIN events e ON e.occurred_at >= p.start_ts AND e.occurred_at < p.end_ts
    GROUP BY p.period, e.area_code, e.category
),
previous AS (
    SELECT p.period, e.area_code, e.category, count(*) AS n
    FROM report_periods p JOIN events e ON e.occurred_at >= p.previous_start_ts AND e.occurred_at < p.previous_end_ts
    GROUP BY p.period, e.area_code, e.category
),
pop AS (
    SELECT area_code, year, sum(population) AS population FROM area_population GROUP BY area_code, year
)
SELECT p.period,
       p.period_type,
       a.area_type,
       a.area_code,
       a.area_name,
       c.category,
       coalesce(cur.n, 0) AS offences,
       pop.population,
       py.population_year,
       round(coalesce(cur.n, 0) * 1000.0 / nullif(pop.population, 0), 2) AS rate_per_1000,
       p.previous_period,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(prev.n, 0) END AS previous_offences,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(cur.n, 0) - coalesce(prev.n, 0) END AS change,
       CASE WHEN p.previous_period IS NOT NULL AND coalesce(prev.n, 0) > 0
            THEN round((coalesce(cur.n, 0) - prev.n) * 100.0 / prev.n, 1) END AS change_pct
FROM report_periods p
CROSS JOIN areas a
CROSS JOIN cats c
LEFT JOIN counts cur ON cur.period = p.period AND cur.area_code = a.area_code AND cur.category = c.category
LEFT JOIN previous prev ON prev.period = p.period AND prev.area_code = a.area_code AND prev.category = c.category
LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
LEFT JOIN pop ON pop.area_code = a.area_code AND pop.year = py.population_year
ORDER BY p.period_type, p.period, a.ordinal, a.area_code, c.ordinal
