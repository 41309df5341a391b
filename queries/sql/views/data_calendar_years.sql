-- The calendar years the police data cover, first to last, with no gaps,
-- as data_years does for financial years.
SELECT c.year, c.period, c.start_ts, c.end_ts
FROM calendar_years c
CROSS JOIN (SELECT min(occurred_at) AS first_at, max(occurred_at) AS last_at FROM police_offences_log) r
WHERE c.end_ts > r.first_at AND c.start_ts <= r.last_at
