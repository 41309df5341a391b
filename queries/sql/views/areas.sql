-- The areas measures report on: the focus area as a whole (area_code
-- 'focus') and every local authority in the lookup.
SELECT 'focus' AS area_code, p.focus_name AS area_name, 'focus' AS area_type, 0 AS ordinal
FROM params p
UNION ALL
SELECT DISTINCT la_code AS area_code, la_name AS area_name, 'la' AS area_type, 1 AS ordinal
FROM lsoa_lookup
