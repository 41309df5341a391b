-- H4 A&E assault by sharp object
-- Measures: A&E attendances for assault where the method was a knife or
--   sharp object, in total and for patients aged under 25, per reporting
--   period and area of residence (the patient's home LSOA; attendances
--   with an unknown home or one outside the region count only in
--   attendances_all_residences of the focus row).
-- Parameters: focus area, params.as_of.
-- Denominator: residents of the area (nearest mid-year), all ages and
--   under 25; rate per 100,000.
-- Change: on the previous period of the same length.
WITH sharp AS (
    SELECT a.occurred_at, a.age, l.la_code, f.la_code IS NOT NULL AS in_focus
    FROM ae_attendances a
    LEFT JOIN lsoa_lookup l ON l.lsoa_code = a.home_lsoa
    LEFT JOIN focus_area f ON f.la_code = l.la_code
    WHERE a.assault_method = 'knife_sharp_object'
),
placed AS (
    SELECT 'focus' AS area_code, occurred_at, age FROM sharp WHERE in_focus
    UNION ALL
    SELECT la_code, occurred_at, age FROM sharp WHERE la_code IS NOT NULL
),
counted AS (
    SELECT p.period, x.area_code, count(*) AS n, sum(CASE WHEN x.age < 25 THEN 1 ELSE 0 END) AS n_u25
    FROM report_periods p JOIN placed x ON x.occurred_at >= p.start_ts AND x.occurred_at < p.end_ts
    GROUP BY p.period, x.area_code
),
previous AS (
    SELECT p.period, x.area_code, count(*) AS n
    FROM report_periods p JOIN placed x ON x.occurred_at >= p.previous_start_ts AND x.occurred_at < p.previous_end_ts
    GROUP BY p.period, x.area_code
),
everyone AS (
    SELECT p.period, count(*) AS n
    FROM report_periods p JOIN sharp s ON s.occurred_at >= p.start_ts AND s.occurred_at < p.end_ts
    GROUP BY p.period
)
SELECT p.period, p.period_type, a.area_type, a.area_code, a.area_name,
       coalesce(c.n, 0) AS attendances,
       pop.population, py.population_year,
       round(coalesce(c.n, 0) * 100000.0 / nullif(pop.population, 0), 2) AS rate_per_100000,
       coalesce(c.n_u25, 0) AS attendances_under_25,
       pop.population_under_25,
       round(coalesce(c.n_u25, 0) * 100000.0 / nullif(pop.population_under_25, 0), 2) AS rate_under_25_per_100000,
       CASE WHEN a.area_type = 'focus' THEN coalesce(e.n, 0) END AS attendances_all_residences,
       p.previous_period,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(pr.n, 0) END AS previous_attendances,
       CASE WHEN p.previous_period IS NOT NULL THEN coalesce(c.n, 0) - coalesce(pr.n, 0) END AS change
FROM report_periods p
CROSS JOIN areas a
LEFT JOIN counted c ON c.period = p.period AND c.area_code = a.area_code
LEFT JOIN previous pr ON pr.period = p.period AND pr.area_code = a.area_code
LEFT JOIN everyone e ON e.period = p.period
LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
LEFT JOIN area_population_bands pop ON pop.area_code = a.area_code AND pop.year = py.population_year
ORDER BY p.period_type, p.period, a.ordinal, a.area_code
