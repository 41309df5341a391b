-- Every crime once per area it counts in: the focus area as a whole
-- ('focus') and its local authority. Measures count from here by area.
SELECT 'focus' AS area_code, c.* FROM crimes c WHERE c.in_focus
UNION ALL
SELECT c.la_code AS area_code, c.* FROM crimes c WHERE c.la_code IS NOT NULL
