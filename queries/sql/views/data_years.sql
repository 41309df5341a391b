-- The financial years the police data cover, first to last, with no gaps:
-- measures report every year in this range, a year with no offences as 0.
SELECT fy.fy_start, fy.period, fy.start_ts, fy.end_ts
FROM financial_years fy
CROSS JOIN (SELECT min(fy_start) AS first_fy, max(fy_start) AS last_fy FROM crimes) r
WHERE fy.fy_start BETWEEN r.first_fy AND r.last_fy
