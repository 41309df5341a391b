-- D1 (public data) Deprivation in data.police.uk street-level data
-- Measures: serious-violence rows of the published data (crime types in the
--   definition, anti-social behaviour excluded) by IMD 2019 decile of their
--   LSOA, per financial year: LSOAs with at least one such row, offences,
--   and the rate per 1,000 where the population table covers the LSOAs.
-- Parameters: the definition's crime types, the IMD table.
-- Denominator: residents of those LSOAs (nearest mid-year); NULL when the
--   population table has no rows for them (the published data carry none),
--   with lsoas_without_population saying how many.
WITH sv AS (
    SELECT fy.period, fy.fy_start, p.event_lsoa
    FROM police_uk_crimes p
    JOIN sv_crime_types t ON t.crime_type = p.crime_type
    JOIN financial_years fy ON p.occurred_at >= fy.start_ts AND p.occurred_at < fy.end_ts
    WHERE p.event_lsoa IS NOT NULL
),
per_lsoa AS (
    SELECT s.period, s.fy_start, s.event_lsoa AS lsoa_code, count(*) AS offences FROM sv s GROUP BY s.period, s.fy_start, s.event_lsoa
),
pop AS (SELECT lsoa_code, year, sum(population) AS population FROM population GROUP BY lsoa_code, year)
SELECT l.period, i.imd_decile,
       count(*) AS lsoas,
       sum(CASE WHEN pp.population IS NULL THEN 1 ELSE 0 END) AS lsoas_without_population,
       sum(l.offences) AS offences,
       sum(pp.population) AS population,
       CASE WHEN sum(CASE WHEN pp.population IS NULL THEN 1 ELSE 0 END) = 0
            THEN round(sum(l.offences) * 1000.0 / nullif(sum(pp.population), 0), 2) END AS rate_per_1000
FROM per_lsoa l
JOIN imd i ON i.lsoa_code = l.lsoa_code
LEFT JOIN fy_population_year py ON py.fy_start = l.fy_start
LEFT JOIN pop pp ON pp.lsoa_code = l.lsoa_code AND pp.year = py.population_year
GROUP BY l.period, i.imd_decile
ORDER BY l.period, i.imd_decile
