-- H5 Share of the region
-- Measures: the focus area's share of the region's homicides and serious
--   violent assaults (definition categories 'homicide' and
--   'serious_assault'), each and together, per reporting period: % (n).
-- Parameters: the definition, the focus area; the region is every local
--   authority in the LSOA lookup.
-- Denominator: the region's offences in the same categories and period.
WITH groups AS (
    SELECT 'homicide' AS offence_group, 'homicide' AS category
    UNION ALL SELECT 'serious_assault', 'serious_assault'
    UNION ALL SELECT 'homicide_and_serious_assault', 'homicide'
    UNION ALL SELECT 'homicide_and_serious_assault', 'serious_assault'
),
counted AS (
    SELECT p.period, g.offence_group,
           sum(CASE WHEN c.in_focus THEN 1 ELSE 0 END) AS focus_n,
           count(*) AS region_n
    FROM report_periods p
    JOIN crimes c ON c.occurred_at >= p.start_ts AND c.occurred_at < p.end_ts AND c.la_code IS NOT NULL
    JOIN groups g ON g.category = c.category
    GROUP BY p.period, g.offence_group
)
SELECT p.period, p.period_type, g.offence_group,
       coalesce(c.focus_n, 0) AS focus_offences,
       coalesce(c.region_n, 0) AS region_offences,
       CASE WHEN coalesce(c.region_n, 0) > 0 THEN round(c.focus_n * 100.0 / c.region_n, 1) END AS focus_share_pct
FROM report_periods p
CROSS JOIN (SELECT DISTINCT offence_group FROM groups) g
LEFT JOIN counted c ON c.period = p.period AND c.offence_group = g.offence_group
ORDER BY p.period_type, p.period, g.offence_group
