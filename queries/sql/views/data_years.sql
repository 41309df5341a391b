-- The financial years the police data cover, first to last, with no gaps:
-- measures report every year in this range, a year with no offences as 0.
-- Read from the raw log (first and last offence dates), not the classified
-- crimes view, so defining the periods costs one scan of one column.
SELECT fy.fy_start, fy.period, fy.start_ts, fy.end_ts
FROM financial_years fy
CROSS JOIN (SELECT min(occurred_at) AS first_at, max(occurred_at) AS last_at FROM police_offences_log) r
WHERE fy.end_ts > r.first_at AND fy.start_ts <= r.last_at
