-- V1 Victim age profile
-- Measures: the ages of victims of offences in the focus area, by offence
--   group ('homicide_and_serious_assault': definition categories homicide
--   and serious_assault; 'personal_robbery'), per reporting period: median
--   and quartiles (linear interpolation, as percentile_cont), and the number
--   and share of victims per age band 0-14, 15-23, 24-34, 35-49, 50+.
--   The row with age_band 'all' holds the totals and the quartiles.
-- Parameters: the definition, the focus area.
-- Denominator: victims of known age in the group and period (victims of
--   unknown age are counted in victims_age_unknown, not in the shares).
WITH grouped AS (
    SELECT p.period, p.period_type,
           CASE WHEN v.category IN ('homicide', 'serious_assault') THEN 'homicide_and_serious_assault' ELSE v.category END AS offence_group,
           v.age
    FROM report_periods p
    JOIN victims v ON v.occurred_at >= p.start_ts AND v.occurred_at < p.end_ts
    WHERE v.in_focus AND v.category IN ('homicide', 'serious_assault', 'personal_robbery')
),
banded AS (
    SELECT period, period_type, offence_group, age,
           CASE WHEN age <= 14 THEN '0-14' WHEN age <= 23 THEN '15-23' WHEN age <= 34 THEN '24-34'
                WHEN age <= 49 THEN '35-49' ELSE '50+' END AS age_band
    FROM grouped WHERE age IS NOT NULL
),
bands AS (
    SELECT column1 AS age_band, column2 AS ordinal FROM (VALUES ('0-14', 1), ('15-23', 2), ('24-34', 3), ('35-49', 4), ('50+', 5))
),
totals AS (
    SELECT period, period_type, offence_group, count(age) AS victims, count(*) - count(age) AS unknown,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY age) AS median_age,
           percentile_cont(0.25) WITHIN GROUP (ORDER BY age) AS lower_quartile,
           percentile_cont(0.75) WITHIN GROUP (ORDER BY age) AS upper_quartile
    FROM grouped
    GROUP BY period, period_type, offence_group
),
per_band AS (
    SELECT period, offence_group, age_band, count(*) AS n FROM banded GROUP BY period, offence_group, age_band
)
SELECT t.period, t.period_type, t.offence_group, 'all' AS age_band, t.victims,
       CASE WHEN t.victims > 0 THEN 100.0 END AS pct,
       t.unknown AS victims_age_unknown, t.median_age, t.lower_quartile, t.upper_quartile, 0 AS ordinal
FROM totals t
UNION ALL
SELECT t.period, t.period_type, t.offence_group, b.age_band, coalesce(pb.n, 0),
       CASE WHEN t.victims > 0 THEN round(coalesce(pb.n, 0) * 100.0 / t.victims, 1) END,
       NULL, NULL, NULL, NULL, b.ordinal
FROM totals t
CROSS JOIN bands b
LEFT JOIN per_band pb ON pb.period = t.period AND pb.offence_group = t.offence_group AND pb.age_band = b.age_band
ORDER BY period_type, period, offence_group, ordinal
