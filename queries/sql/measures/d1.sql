-- D1 Deprivation
-- Measures: the serious-violence rate per 1,000 residents by IMD 2019
--   decile (1 = most deprived) of the LSOA where offences happened, per
--   reporting period, over the LSOAs of the focus area. The Spearman rank
--   correlation between LSOA rate and IMD rank is measure_d1_spearman.
-- Parameters: the definition, the focus area, the IMD table.
-- Denominator: residents of the decile's LSOAs (nearest mid-year). LSOAs
--   without a population row are counted in lsoas_without_population and
--   left out of the rate (their offences too, in offences_in_rate).
SELECT period, period_type, imd_decile,
       count(*) AS lsoas,
       sum(CASE WHEN population IS NULL THEN 1 ELSE 0 END) AS lsoas_without_population,
       sum(offences) AS offences,
       sum(CASE WHEN population IS NOT NULL THEN offences ELSE 0 END) AS offences_in_rate,
       sum(population) AS population,
       round(sum(CASE WHEN population IS NOT NULL THEN offences ELSE 0 END) * 1000.0 / nullif(sum(population), 0), 2) AS rate_per_1000
FROM d1_lsoa_rates
GROUP BY period, period_type, imd_decile
ORDER BY period_type, period, imd_decile
