-- Serious-violence offences per LSOA of the focus area and reporting
-- period, with the LSOA's IMD 2019 rank and decile and its residents
-- (focus_lsoa_periods).
WITH counted AS (
    SELECT p.period, c.event_lsoa, count(*) AS offences
    FROM report_periods p
    JOIN crimes c ON c.occurred_at >= p.start_ts AND c.occurred_at < p.end_ts
    WHERE c.category IS NOT NULL AND c.in_focus
    GROUP BY p.period, c.event_lsoa
)
SELECT f.period, f.period_type, f.lsoa_code, f.imd_rank, f.imd_decile, f.population,
       coalesce(c.offences, 0) AS offences,
       coalesce(c.offences, 0) * 1000.0 / nullif(f.population, 0) AS rate_per_1000
FROM focus_lsoa_periods f
LEFT JOIN counted c ON c.period = f.period AND c.event_lsoa = f.lsoa_code
