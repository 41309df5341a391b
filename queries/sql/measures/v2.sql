-- V2 Victims from outside
-- Measures: the % of personal-robbery victims whose home is outside the
--   area where they were robbed: for robberies in the focus area, home
--   outside the focus area; for the rest of the region, home outside the
--   robbery's own local authority (the strategy's comparison: "a third of
--   robbery victims in the city live outside it, about a quarter in other
--   boroughs"). A home LSOA not in the lookup is outside.
-- Parameters: the definition (category personal_robbery), the focus area.
-- Denominator: victims whose home LSOA is recorded; victims_home_unknown
--   says how many are left out.
WITH robbed AS (
    SELECT p.period, p.period_type,
           CASE WHEN v.in_focus THEN 'focus_area' ELSE 'rest_of_region' END AS area_group,
           v.home_lsoa IS NULL AS unknown,
           CASE WHEN v.in_focus THEN NOT v.home_in_focus ELSE coalesce(v.home_la_code, '') <> v.la_code END AS from_outside
    FROM report_periods p
    JOIN victims v ON v.occurred_at >= p.start_ts AND v.occurred_at < p.end_ts
    WHERE v.category = 'personal_robbery' AND v.la_code IS NOT NULL
),
groups AS (SELECT 'focus_area' AS area_group, 1 AS ordinal UNION ALL SELECT 'rest_of_region', 2)
SELECT p.period, p.period_type, g.area_group,
       coalesce(sum(CASE WHEN NOT r.unknown THEN 1 ELSE 0 END), 0) AS victims_home_known,
       coalesce(sum(CASE WHEN NOT r.unknown AND r.from_outside THEN 1 ELSE 0 END), 0) AS victims_from_outside,
       round(sum(CASE WHEN NOT r.unknown AND r.from_outside THEN 1 ELSE 0 END) * 100.0
             / nullif(sum(CASE WHEN NOT r.unknown THEN 1 ELSE 0 END), 0), 1) AS pct_from_outside,
       coalesce(sum(CASE WHEN r.unknown THEN 1 ELSE 0 END), 0) AS victims_home_unknown
FROM report_periods p
CROSS JOIN groups g
LEFT JOIN robbed r ON r.period = p.period AND r.area_group = g.area_group
GROUP BY p.period, p.period_type, g.area_group, g.ordinal
ORDER BY p.period_type, p.period, g.ordinal
