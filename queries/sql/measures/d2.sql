-- D2 Deprivation: ambulance assault call-outs
-- Measures: ambulance call-outs to assaults per 100,000 residents by IMD
--   2019 decile (1 = most deprived) of the LSOA the ambulance went to, per
--   reporting period, over the LSOAs of the focus area; and how many of
--   those assaults involved a weapon. Call-outs reach violence never
--   reported to the police or seen at A&E.
-- Parameters: the focus area, the IMD table (focus_lsoa_periods).
-- Counted: each call-out once, in its latest version, where assault is
--   recorded. Call-outs without an incident LSOA, or outside the focus
--   area, are not in any decile.
-- Denominator: residents of the decile's LSOAs (nearest mid-year). LSOAs
--   without a population row are counted in lsoas_without_population and
--   left out of the rate (their call-outs too, in callouts_in_rate).
WITH counted AS (
    SELECT p.period, a.event_lsoa,
           count(*) AS callouts,
           sum(CASE WHEN a.weapon THEN 1 ELSE 0 END) AS weapon_callouts
    FROM report_periods p
    JOIN ambulance_callouts a ON a.occurred_at >= p.start_ts AND a.occurred_at < p.end_ts
    WHERE a.assault
    GROUP BY p.period, a.event_lsoa
),
per_lsoa AS (
    SELECT f.period, f.period_type, f.imd_decile, f.population,
           coalesce(c.callouts, 0) AS callouts,
           coalesce(c.weapon_callouts, 0) AS weapon_callouts
    FROM focus_lsoa_periods f
    LEFT JOIN counted c ON c.period = f.period AND c.event_lsoa = f.lsoa_code
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
