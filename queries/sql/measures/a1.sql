-- A1 A&E violence profile: count and data completeness
-- Measures: A&E assault attendances of patients aged 10-25 per reporting
--   period ('attendances'), and the completeness of each ISTV mandatory
--   field for them (% of attendances with the field filled): assault date
--   and time, assault method, location type, location description. The
--   hour-by-day and method-by-location profiles are measure_a1_hour_day and
--   measure_a1_method_location.
-- Parameters: params.as_of (rolling period).
-- Denominator: the attendances of the period (for completeness).
WITH att AS (
    SELECT p.period, p.period_type, count(*) AS attendances,
           count(a.assault_at) AS assault_at, count(a.assault_method) AS assault_method,
           count(a.location_type) AS location_type, count(a.location_description) AS location_description
    FROM report_periods p
    JOIN ae_attendances a ON a.occurred_at >= p.start_ts AND a.occurred_at < p.end_ts
    WHERE a.age BETWEEN 10 AND 25
    GROUP BY p.period, p.period_type
),
items AS (
    SELECT period, period_type, 'attendances' AS item, 0 AS ordinal, attendances AS n, attendances AS denominator FROM att
    UNION ALL SELECT period, period_type, 'assault_at', 1, assault_at, attendances FROM att
    UNION ALL SELECT period, period_type, 'assault_method', 2, assault_method, attendances FROM att
    UNION ALL SELECT period, period_type, 'location_type', 3, location_type, attendances FROM att
    UNION ALL SELECT period, period_type, 'location_description', 4, location_description, attendances FROM att
)
SELECT period, period_type, item, n, denominator,
       CASE WHEN item <> 'attendances' AND denominator > 0 THEN round(n * 100.0 / denominator, 1) END AS pct_complete
FROM items
ORDER BY period_type, period, ordinal
