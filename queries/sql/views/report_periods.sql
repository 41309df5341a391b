-- Reporting periods: each financial year and each calendar year the
-- police data cover, and the rolling 12 months to params.as_of. Each comes
-- with the period of the same length before it (for change figures) when
-- the data cover that too, and the mid-year whose population is the
-- denominator (a calendar year's own 30 June).
SELECT y.period, 'financial_year' AS period_type, y.start_ts, y.end_ts, y.fy_start AS mid_year,
       p.period AS previous_period, p.start_ts AS previous_start_ts, p.end_ts AS previous_end_ts
FROM data_years y
LEFT JOIN data_years p ON p.fy_start = y.fy_start - 1
UNION ALL
SELECT c.period, 'calendar_year', c.start_ts, c.end_ts, c.year, p.period, p.start_ts, p.end_ts
FROM data_calendar_years c
LEFT JOIN data_calendar_years p ON p.year = c.year - 1
UNION ALL
SELECT r.rolling_label, 'rolling_12_months', r.rolling_start, r.rolling_end, r.rolling_mid_year,
       CASE WHEN r.rolling_prev_start >= d.first_ts THEN r.rolling_prev_label END,
       CASE WHEN r.rolling_prev_start >= d.first_ts THEN r.rolling_prev_start END,
       CASE WHEN r.rolling_prev_start >= d.first_ts THEN r.rolling_prev_end END
FROM params r
CROSS JOIN (SELECT min(start_ts) AS first_ts, max(end_ts) AS last_ts FROM data_years) d
WHERE r.rolling_start >= d.first_ts AND r.rolling_end <= d.last_ts
