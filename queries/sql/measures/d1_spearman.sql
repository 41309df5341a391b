-- D1 Deprivation: rank correlation
-- Measures: Spearman's rank correlation between the LSOA serious-violence
--   rate and the IMD 2019 rank (rank 1 = most deprived, so violence
--   concentrated in deprived areas gives a negative rho), with the number
--   of LSOAs it is computed on, per reporting period.
-- Parameters: as D1. Ties get the average of their ranks.
-- Denominator: LSOAs of the focus area with both a population and an IMD rank.
WITH known AS (
    SELECT period, period_type, rate_per_1000 AS rate, imd_rank
    FROM d1_lsoa_rates WHERE population > 0 AND imd_rank IS NOT NULL
),
ranked AS (
    SELECT period, period_type,
           rank() OVER (PARTITION BY period ORDER BY rate) + (count(*) OVER (PARTITION BY period, rate) - 1) / 2.0 AS rate_rank,
           rank() OVER (PARTITION BY period ORDER BY imd_rank) + (count(*) OVER (PARTITION BY period, imd_rank) - 1) / 2.0 AS imd_rank
    FROM known
)
SELECT period, period_type, count(*) AS lsoas, round(corr(rate_rank, imd_rank), 3) AS spearman_rho
FROM ranked
GROUP BY period, period_type
ORDER BY period_type, period
