-- D2 Deprivation: ambulance assault call-outs
-- Measures: ambulance call-outs to assaults per 100,000 residents by IMD
--   2019 decile (1 = most deprived) of the LSOA the ambulance went to, per
--   reporting period, over the LSOAs of the focus area; and how many of
--   those assaults involved a weapon. Call-outs reach violence never
--   reported to the police or seen at A&E.
-- Parameters: the focus area, the IMD table.
-- Counted: each call-out once, in its latest version, where assault is
--   recorded. Call-outs without an incident LSOA, or outside the focus
--   area, are not in any decile.
-- Denominator: residents of the decile's LSOAs (nearest mid-year). LSOAs
--   without a population row are counted in lsoas_without_population and
--   left out of the rate (their call-outs too, in callouts_in_rate).
WITH lsoas AS (
    SELECT l.lsoa_code, i.imd_decile
    FROM lsoa_lookup l
    JOIN focus_area f ON f.la_code = l.la_code
    LEFT JOIN imd i ON i.lsoa_code = l.lsoa_code
),
pop AS (
    SELECT lsoa_code, year, sum(population) AS population FROM population GROUP BY lsoa_code, year
),
counted AS (
    SELECT p.period, a.event_lsoa,
           count(*) AS callouts,
           sum(CASE WHEN a.weapon THEN 1 ELSE 0 END) AS weapon_callouts
    FROM report_periods p
    JOIN ambulance_callouts a ON a.occurred_at >= p.start_ts AND a.occurred_at < p.end_ts
    WHERE a.assault
    GROUP BY p.period, a.event_lsoa
),
per_lsoa AS (
    SELECT p.period, p.period_type, l.imd_decile, pp.population,
           coalesce(c.callouts, 0) AS callouts,
           coalesce(c.weapon_callouts, 0) AS weapon_callouts
    FROM report_periods p
    CROSS JOIN lsoas l
    LEFT JOIN counted c ON c.period = p.period AND c.event_lsoa = l.lsoa_code
    LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
    LEFT JOIN pop pp ON pp.lsoa_code = l.lsoa_code AND pp.year = py.population_year
)
SELECT period, period_type, imd_decile,
       count(*) AS lsoas,
       sum(CASE WHEN population IS NULL THEN 1 ELSE 0 END) AS lsoas_without_population,
       sum(callouts) AS callouts,
       sum(weapon_callouts) AS weapon_callouts,
       sum(CASE WHEN population IS NOT NULL THEN callouts ELSE 0 END) AS callouts_in_rate,
       sum(population) AS population,
       round(sum(CASE WHEN population IS NOT NULL THEN callouts ELSE 0 END) * 100000.0 / nullif(sum(population), 0), 1) AS rate_per_100k
FROM per_lsoa
GROUP BY period, period_type, imd_decile
