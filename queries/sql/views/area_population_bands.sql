-- Resident population by area and mid-year, all ages and under 25, for
-- rates (see area_population).
SELECT area_code, year, sum(population) AS population,
       sum(CASE WHEN age < 25 THEN population ELSE 0 END) AS population_under_25
FROM area_population
GROUP BY area_code, year
