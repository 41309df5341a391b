-- The cohort window ending with each financial year the data fully cover:
-- params.cohort_years years (default 3), e.g. 2021/22 to 2023/24.
SELECT fy.period, fy.fy_start, concat(s.period, ' to ', fy.period) AS window_label,
       s.start_ts AS window_start, fy.end_ts AS window_end
FROM data_years fy
CROSS JOIN params p
JOIN data_years s ON s.fy_start = fy.fy_start - p.cohort_years + 1
