-- The focus area's LSOAs in each reporting period, with their IMD 2019
-- rank and decile and their residents (nearest mid-year; NULL when the
-- population table has no row for the LSOA). The deprivation measures
-- (D1, D2) count events into these rows.
WITH lsoas AS (
    SELECT l.lsoa_code, i.imd_rank, i.imd_decile
    FROM lsoa_lookup l
    JOIN focus_area f ON f.la_code = l.la_code
    LEFT JOIN imd i ON i.lsoa_code = l.lsoa_code
),
pop AS (
    SELECT lsoa_code, year, sum(population) AS population FROM population GROUP BY lsoa_code, year
)
SELECT p.period, p.period_type, l.lsoa_code, l.imd_rank, l.imd_decile, pp.population
FROM report_periods p
CROSS JOIN lsoas l
LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
LEFT JOIN pop pp ON pp.lsoa_code = l.lsoa_code AND pp.year = py.population_year
