-- Q1 Partner data quality: per extract
-- Measures: for each extract received, per partner: rows received, rows
--   rejected (and %), duplicate rows, and timeliness: the median and 90th
--   percentile of days from each event to the extract's date (the date in
--   its file name, else the day it arrived). The period is the financial
--   year of the extract date. Field completeness is measure_q1_fields.
-- Parameters: none.
-- Denominator: rows read from the extract (for % rejected).
WITH lag AS (
    SELECT e.extract_id,
           (to_unixtime(CAST(r.extract_date AS TIMESTAMP)) - to_unixtime(CAST(CAST(e.occurred_at AS DATE) AS TIMESTAMP))) / 86400 AS days
    FROM all_events e
    JOIN extract_receipts r ON r.extract_id = e.extract_id
),
timeliness AS (
    SELECT extract_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median_days,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90_days
    FROM lag
    GROUP BY extract_id
)
SELECT fy.period, r.partner, r.file_name, r.extract_kind, r.extract_date, r.status,
       r.rows_read, r.rows_rejected,
       CASE WHEN r.rows_read > 0 THEN round(r.rows_rejected * 100.0 / r.rows_read, 1) END AS pct_rejected,
       r.rows_duplicate, r.rows_published,
       round(t.median_days, 1) AS median_days_to_arrival,
       round(t.p90_days, 1) AS p90_days_to_arrival
FROM extract_receipts r
JOIN financial_years fy ON CAST(r.extract_date AS TIMESTAMP) >= fy.start_ts AND CAST(r.extract_date AS TIMESTAMP) < fy.end_ts
LEFT JOIN timeliness t ON t.extract_id = r.extract_id
ORDER BY fy.period, r.partner, r.extract_date, r.file_name
