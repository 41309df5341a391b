-- H2 Homicide
-- Measures: homicides (category 'homicide' of the definition; under
--   `local`, domestic homicide is excluded) per financial year and area,
--   with a 3-year rolling figure because yearly counts are small.
-- Parameters: the definition, the focus area.
-- Denominator: ONS mid-year population, all ages, nearest available
--   mid-year; rate per 1,000,000. The 3-year rate divides the homicides of
--   this and the two previous years by the sum of the three years'
--   populations (an average annual rate); NULL until the data cover three
--   years.
-- Change: on the previous financial year.
WITH hom AS (
    SELECT fy_start, 'focus' AS area_code, count(*) AS n FROM crimes WHERE category = 'homicide' AND in_focus GROUP BY fy_start
    UNION ALL
    SELECT fy_start, la_code, count(*) FROM crimes WHERE category = 'homicide' AND la_code IS NOT NULL GROUP BY fy_start, la_code
),
pop AS (
    SELECT area_code, year, sum(population) AS population FROM area_population GROUP BY area_code, year
),
yearly AS (
    SELECT y.fy_start, y.period, a.area_code, a.area_name, a.area_type, a.ordinal AS area_ordinal,
           coalesce(h.n, 0) AS homicides, pop.population, py.population_year
    FROM data_years y
    CROSS JOIN areas a
    LEFT JOIN hom h ON h.fy_start = y.fy_start AND h.area_code = a.area_code
    LEFT JOIN fy_population_year py ON py.fy_start = y.fy_start
    LEFT JOIN pop ON pop.area_code = a.area_code AND pop.year = py.population_year
),
rolling AS (
    SELECT cur.fy_start, cur.area_code, count(*) AS years, sum(w.homicides) AS homicides_3y, sum(w.population) AS population_3y
    FROM yearly cur
    JOIN yearly w ON w.area_code = cur.area_code AND w.fy_start BETWEEN cur.fy_start - 2 AND cur.fy_start
    GROUP BY cur.fy_start, cur.area_code
)
SELECT y.period,
       y.area_type,
       y.area_code,
       y.area_name,
       y.homicides,
       y.population,
       y.population_year,
       round(y.homicides * 1000000.0 / nullif(y.population, 0), 2) AS rate_per_million,
       p.homicides AS previous_homicides,
       y.homicides - p.homicides AS change,
       CASE WHEN r.years = 3 THEN r.homicides_3y END AS homicides_3y,
       CASE WHEN r.years = 3 THEN r.population_3y END AS population_3y,
       CASE WHEN r.years = 3 THEN round(r.homicides_3y * 1000000.0 / nullif(r.population_3y, 0), 2) END AS rate_3y_per_million
FROM yearly y
LEFT JOIN yearly p ON p.area_code = y.area_code AND p.fy_start = y.fy_start - 1
LEFT JOIN rolling r ON r.fy_start = y.fy_start AND r.area_code = y.area_code
ORDER BY y.period, y.area_ordinal, y.area_code
