-- R1 Retention
-- Not available yet: per-table retention periods, the deletion run and its
-- log (counts deleted, on time or late) come with the retention work. This
-- placeholder says so instead of reporting zeros, which would read as
-- "nothing held past its date".
SELECT 'R1' AS measure, 'not available' AS status,
       'retention periods and deletion records are not in the lake yet' AS reason
