-- R1 Retention
-- Measures: per financial year and table, from the retention runs whose
--   day falls in the year (retention_runs, written by each
--   `vru retention apply`): records deleted on time (on the due date or
--   within the policy's grace days) and late (mean and longest delay past
--   the grace), records withdrawn by partners, and the number of runs; and,
--   as at the year's last run: records past their date kept under a hold
--   (lawful, with a reason), records past their date still held without
--   one (past_date_not_deleted, the deletion deficit: must be 0), records
--   kept only because a later event about the person extended them, and
--   records falling due in the next 30 and 90 days. `verified`: every run
--   of the year checked that no deleted record is left in the table's
--   files. The row `all` sums the tables.
-- Parameters: the retention policy each run applied (retention_runs names
--   it with its version and SHA-256).
-- Denominator: none. Counts are of records (one partner's record id with
--   all its versions), not people.
WITH runs AS (
    SELECT fy.period, r.*
    FROM retention_runs r
    JOIN financial_years fy ON CAST(r.as_of AS TIMESTAMP) >= fy.start_ts AND CAST(r.as_of AS TIMESTAMP) < fy.end_ts
),
last_run AS (
    SELECT period, max(run_seq) AS run_seq, max(as_of) AS last_run FROM runs GROUP BY period
),
in_year AS (
    SELECT period, table_name,
           count(DISTINCT run_seq) AS runs,
           sum(deleted_on_time) AS deleted_on_time,
           sum(deleted_late) AS deleted_late,
           sum(days_late_total) AS days_late_total,
           max(days_late_max) AS max_days_late,
           sum(withdrawn) AS withdrawn,
           bool_and(verified) AS verified
    FROM runs
    GROUP BY period, table_name
),
at_end AS (
    SELECT r.period, r.table_name,
           sum(r.held) AS held,
           sum(r.held_past_date) AS past_date_not_deleted,
           sum(r.extended) AS extended,
           sum(r.due_30) AS due_30,
           sum(r.due_90) AS due_90
    FROM runs r
    JOIN last_run l ON l.period = r.period AND l.run_seq = r.run_seq
    GROUP BY r.period, r.table_name
),
per_table AS (
    SELECT y.period, y.table_name, y.runs, y.deleted_on_time, y.deleted_late, y.days_late_total, y.max_days_late, y.withdrawn,
           coalesce(e.held, 0) AS held,
           coalesce(e.past_date_not_deleted, 0) AS past_date_not_deleted,
           coalesce(e.extended, 0) AS extended,
           coalesce(e.due_30, 0) AS due_30,
           coalesce(e.due_90, 0) AS due_90,
           y.verified
    FROM in_year y
    LEFT JOIN at_end e ON e.period = y.period AND e.table_name = y.table_name
),
with_total AS (
    SELECT * FROM per_table
    UNION ALL
    SELECT period, 'all', max(runs), sum(deleted_on_time), sum(deleted_late), sum(days_late_total), max(max_days_late), sum(withdrawn),
           sum(held), sum(past_date_not_deleted), sum(extended), sum(due_30), sum(due_90), bool_and(verified)
    FROM per_table
    GROUP BY period
)
SELECT t.period, t.table_name, l.last_run, t.runs,
       t.deleted_on_time, t.deleted_late,
       CASE WHEN t.deleted_late > 0 THEN round(CAST(t.days_late_total AS DOUBLE) / t.deleted_late, 1) END AS mean_days_late,
       t.max_days_late,
       t.withdrawn, t.held, t.past_date_not_deleted, t.extended, t.due_30, t.due_90, t.verified
FROM with_total t
JOIN last_run l ON l.period = t.period
