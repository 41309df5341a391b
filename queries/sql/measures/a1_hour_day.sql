-- A1 A&E violence profile: hour of day by day of week
-- Measures: A&E assault attendances of patients aged 10-25 by the hour and
--   day of the week of arrival (local time), per reporting period: all 168
--   cells, zeros included.
-- Parameters: params.as_of (rolling period).
WITH att AS (
    SELECT p.period, CAST(date_part('hour', a.occurred_at) AS INT) AS hour, CAST(date_part('dow', a.occurred_at) AS INT) AS dow
    FROM report_periods p
    JOIN ae_attendances a ON a.occurred_at >= p.start_ts AND a.occurred_at < p.end_ts
    WHERE a.age BETWEEN 10 AND 25
),
days AS (
    SELECT column1 AS dow, column2 AS day, column3 AS ordinal
    FROM (VALUES (1, 'Mon', 1), (2, 'Tue', 2), (3, 'Wed', 3), (4, 'Thu', 4), (5, 'Fri', 5), (6, 'Sat', 6), (0, 'Sun', 7))
),
hours AS (SELECT CAST(value AS INT) AS hour FROM generate_series(0, 23)),
counted AS (SELECT period, dow, hour, count(*) AS n FROM att GROUP BY period, dow, hour)
SELECT p.period, p.period_type, d.day, d.ordinal AS day_ordinal, h.hour, coalesce(c.n, 0) AS attendances
FROM report_periods p
CROSS JOIN days d
CROSS JOIN hours h
LEFT JOIN counted c ON c.period = p.period AND c.dow = d.dow AND c.hour = h.hour
ORDER BY p.period_type, p.period, d.ordinal, h.hour
