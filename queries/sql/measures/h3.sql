-- H3 Knife/sharp-object serious violence
-- Measures: police-recorded offences flagged knife or sharp object (the
--   flag covers homicide, attempted murder, threats to kill, assault with
--   injury or intent, robbery, rape and sexual assault, including where a
--   knife was believed present), in total and where a victim was under 25,
--   per reporting period (financial year, rolling 12 months) and area.
-- Parameters: focus area, params.as_of (rolling period).
-- Denominator: residents of the area (nearest available mid-year), all
--   ages for the total and under 25 for the under-25 split; rate per 1,000.
-- Change: on the previous period of the same length.
WITH young_victim AS (
    SELECT DISTINCT partner, crime_ref FROM victims WHERE age < 25
),
knife AS (
    SELECT pc.area_code, pc.partner, pc.crime_ref, pc.occurred_at, y.crime_ref IS NOT NULL AS under_25
    FROM placed_crimes pc
    LEFT JOIN young_victim y ON y.partner = pc.partner AND y.crime_ref = pc.crime_ref
    WHERE pc.knife
),
counted AS (
    SELECT p.period, k.area_code, count(*) AS n, sum(CASE WHEN k.under_25 THEN 1 ELSE 0 END) AS n_u25
    FROM report_periods p JOIN knife k ON k.occurred_at >= p.start_ts AND k.occurred_at < p.end_ts
    GROUP BY p.period, k.area_code
),
previous AS (
    SELECT p.period, k.area_code, count(*) AS n, sum(CASE WHEN k.under_25 THEN 1 ELSE 0 END) AS n_u25
    FROM report_periods p JOIN knife k ON k.occurred_at >= p.previous_start_ts AND k.occurred_at < p.previous_end_ts
    GROUP BY p.period, k.area_code
)
SELECT p.period, p.period_type, a.area_type, a.area_code, a.area_name,
       coalesce(c.n, 0) AS knife_offences,
       pop.population, py.population_year,
       round(coalesce(c.n, 0) * 1000.0 / nullif(pop.population, 0), 2) AS rate_per_1000,
       coalesce(c.n_u25, 0) AS knife_offences_victim_under_25,
       pop.population_under_25,
       round(coalesce(c.n_u25, 0) * 1000.0 / nullif(pop.population_under_25, 0), 2) AS rate_under_25_per_1000,
       p.previous_period,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(pr.n, 0) END AS previous_knife_offences,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(c.n, 0) - coalesce(pr.n, 0) END AS change,
       CASE WHEN p.previous_period IS NOT NULL AND coalesce(pr.n, 0) > 0 THEN round((coalesce(c.n, 0) - pr.n) * 100.0 / pr.n, 1) END AS change_pct
FROM report_periods p
CROSS JOIN areas a
LEFT JOIN counted c ON c.period = p.period AND c.area_code = a.area_code
LEFT JOIN previous pr ON pr.period = p.period AND pr.area_code = a.area_code
LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
LEFT JOIN area_population_bands pop ON pop.area_code = a.area_code AND pop.year = py.population_year
ORDER BY p.period_type, p.period, a.ordinal, a.area_code
