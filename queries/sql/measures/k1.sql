-- K1 Delivery of commitments
-- Measures: the strategy's commitments by their latest status at the end
--   of each reporting period (delivered, on track, at risk, not started),
--   count and % of the priority's commitments, per priority and for all
--   ('all'). Status 'total' is the number of commitments.
-- Parameters: none beyond the periods; the tracker's history (every
--   status update is a record version) gives the status at any date.
-- Denominator: commitments of the priority recorded by the period's end.
WITH latest AS (
    SELECT p.period, p.period_type, c.record_id, c.priority, c.status,
           row_number() OVER (PARTITION BY p.period, c.partner, c.record_id ORDER BY c.occurred_at DESC, c.record_version DESC) AS rn
    FROM report_periods p
    JOIN commitments_log c ON c.occurred_at < p.end_ts
),
current AS (
    SELECT period, period_type, priority, status FROM latest WHERE rn = 1
    UNION ALL
    SELECT period, period_type, 'all', status FROM latest WHERE rn = 1
),
statuses AS (
    SELECT column1 AS status, column2 AS ordinal
    FROM (VALUES ('delivered', 1), ('on_track', 2), ('at_risk', 3), ('not_started', 4), ('total', 5))
),
priorities AS (SELECT DISTINCT period, period_type, priority FROM current),
counted AS (
    SELECT period, priority, status, count(*) AS n FROM current GROUP BY period, priority, status
    UNION ALL
    SELECT period, priority, 'total', count(*) FROM current GROUP BY period, priority
)
SELECT pr.period, pr.period_type, pr.priority, s.status,
       coalesce(c.n, 0) AS commitments,
       round(coalesce(c.n, 0) * 100.0 / t.n, 1) AS pct
FROM priorities pr
CROSS JOIN statuses s
LEFT JOIN counted c ON c.period = pr.period AND c.priority = pr.priority AND c.status = s.status
JOIN counted t ON t.period = pr.period AND t.priority = pr.priority AND t.status = 'total'
ORDER BY pr.period_type, pr.period, pr.priority, s.ordinal
