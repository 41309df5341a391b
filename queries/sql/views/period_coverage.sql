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
spans AS (
    SELECT p.period, p.period_type,
           date_trunc('month', p.start_ts) AS s, date_trunc('month', p.end_ts) AS e,
           greatest(date_trunc('month', p.start_ts), c.first_month) AS cs,
           least(date_trunc('month', p.end_ts), c.end_month) AS ce
    FROM report_periods p
    CROSS JOIN cover c
)
SELECT period, period_type,
       CAST(greatest((date_part('year', ce) - date_part('year', cs)) * 12 + date_part('month', ce) - date_part('month', cs), 0) AS INT) AS months_covered,
       CAST((date_part('year', e) - date_part('year', s)) * 12 + date_part('month', e) - date_part('month', s) AS INT) AS months_in_period,
       (date_part('year', ce) - date_part('year', cs)) * 12 + date_part('month', ce) - date_part('month', cs)
           < (date_part('year', e) - date_part('year', s)) * 12 + date_part('month', e) - date_part('month', s) AS partial
FROM spans
