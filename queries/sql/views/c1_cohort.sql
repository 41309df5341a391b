-- The cohort whose risk factors C1 reports: by default Y1's (everyone
-- charged in the window). Replace with `vru measures --cohort-sql FILE`;
-- any query returning (period, person) works.
SELECT DISTINCT period, person FROM y1_cohort_charges
