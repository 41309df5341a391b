-- The mid-year estimate used for each financial year: the year whose
-- 30 June falls inside it if published, otherwise the nearest available
-- (the earlier on a tie). Outputs state it as population_year.
SELECT fy_start, year AS population_year
FROM (
    SELECT fy.fy_start, y.year,
           row_number() OVER (PARTITION BY fy.fy_start ORDER BY abs(y.year - fy.fy_start), y.year) AS rn
    FROM financial_years fy
    CROSS JOIN (SELECT DISTINCT year FROM population) y
) ranked
WHERE rn = 1
