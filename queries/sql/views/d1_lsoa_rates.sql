-- Serious-violence offences per LSOA of the focus area and reporting
-- period, with the LSOA's IMD 2019 rank and decile and its residents
-- (nearest mid-year; NULL when the population table has no row for it).
WITH lsoas AS (
    SELECT l.lsoa_code, i.imd_rank, i.imd_decile
    FROM lsoa_lookup l
    JOIN focus_area f ON f.la_code = l.la_code
    LEFT JOIN imd i ON i.lsoa_code = l.lsoa_code
),
pop AS (
    SELECT lsoa_code, year, sum(population) AS population FROM population GROUP BY lsoa_code, year
),
counted AS (
    SELECT p.period, c.event_lsoa, count(*) AS offences
    FROM report_periods p
    JOIN crimes c ON c.occurred_at >= p.start_ts AND c.occurred_at < p.end_ts
    WHERE c.category IS NOT NULL AND c.in_focus
    GROUP BY p.period, c.event_lsoa
)
SELECT p.period, p.period_type, l.lsoa_code, l.imd_rank, l.imd_decile, pp.population,
       coalesce(c.offences, 0) AS offences,
       coalesce(c.offences, 0) * 1000.0 / nullif(pp.population, 0) AS rate_per_1000
FROM report_periods p
CROSS JOIN lsoas l
LEFT JOIN counted c ON c.period = p.period AND c.event_lsoa = l.lsoa_code
LEFT JOIN fy_population_year py ON py.fy_start = p.mid_year
LEFT JOIN pop pp ON pp.lsoa_code = l.lsoa_code AND pp.year = py.population_year
