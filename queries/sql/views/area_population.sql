-- Resident population by area, mid-year and single year of age: the
-- denominators of every rate. Areas as in `areas`.
SELECT 'focus' AS area_code, p.year, p.age, sum(p.population) AS population
FROM population p
JOIN lsoa_lookup l ON l.lsoa_code = p.lsoa_code
JOIN focus_area f ON f.la_code = l.la_code
GROUP BY p.year, p.age
UNION ALL
SELECT l.la_code AS area_code, p.year, p.age, sum(p.population) AS population
FROM population p
JOIN lsoa_lookup l ON l.lsoa_code = p.lsoa_code
GROUP BY l.la_code, p.year, p.age
