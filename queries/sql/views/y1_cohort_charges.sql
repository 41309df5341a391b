-- Each window's serious youth violence charges (see youth_sv_charges).
SELECT w.period, w.window_label, w.window_start, w.window_end, c.person, c.offence_date, c.offence_code, c.age, c.male
FROM cohort_windows w
JOIN youth_sv_charges c
  ON c.offence_date >= CAST(w.window_start AS DATE) AND c.offence_date < CAST(w.window_end AS DATE)
