-- A1 A&E violence profile: assault method by location type
-- Measures: A&E assault attendances of patients aged 10-25 by assault
--   method and location type ('not recorded' where the field is blank),
--   per reporting period; location_type 'all' rows total each method.
-- Parameters: params.as_of (rolling period).
WITH att AS (
    SELECT p.period, p.period_type, coalesce(a.assault_method, 'not recorded') AS assault_method,
           coalesce(a.location_type, 'not recorded') AS location_type
    FROM report_periods p
    JOIN ae_attendances a ON a.occurred_at >= p.start_ts AND a.occurred_at < p.end_ts
    WHERE a.age BETWEEN 10 AND 25
)
SELECT period, period_type, assault_method, location_type, count(*) AS attendances FROM att GROUP BY period, period_type, assault_method, location_type
UNION ALL
SELECT period, period_type, assault_method, 'all', count(*) FROM att GROUP BY period, period_type, assault_method
ORDER BY period_type, period, assault_method, location_type
