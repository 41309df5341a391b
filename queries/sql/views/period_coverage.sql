-- How much of each reporting period the police data cover, in whole
-- months: from the month of the first recorded offence to the month of the
-- last. A period covering fewer months than it spans is partial, and its
-- counts are not comparable with a full year's (the report and
-- `vru measures` say so).
WITH cover AS (
    SELECT date_trunc('month', min(occurred_at)) AS first_month,
           date_trunc('month', max(occurred_at)) + INTERVAL '1 month' AS end_month
    FROM police_offences_log
),
months AS (
    SELECT p.period, p.period_type,
           (date_part('year', p.end_ts) - date_part('year', p.start_ts)) * 12
               + date_part('month', p.end_ts) - date_part('month', p.start_ts) AS months_in_period,
           (date_part('year', least(p.end_ts, c.end_month)) - date_part('year', greatest(p.start_ts, c.first_month))) * 12
               + date_part('month', least(p.end_ts, c.end_month)) - date_part('month', greatest(p.start_ts, c.first_month)) AS overlap
    FROM report_periods p
    CROSS JOIN cover c
)
SELECT period, period_type,
       CAST(greatest(overlap, 0) AS INT) AS months_covered,
       CAST(months_in_period AS INT) AS months_in_period,
       overlap < months_in_period AS partial
FROM months
