-- Y1 Serious youth violence cohort
-- Measures: young people aged 10-17 at the offence charged with a
--   serious-violence offence in the window (params.cohort_years financial
--   years ending with the period, default 3): number of people, number of
--   offences charged (one per person, offence date and offence code, police
--   and youth justice records linked), % male, mean age at first charge in
--   the window, and offences by Home Office offence group (robbery,
--   violence against the person, drug offences, other).
-- Parameters: the definition, the focus area (police offences located in
--   it; all youth justice charges, the service being the area's own),
--   params.cohort_years.
-- Denominator: % male is of the people in the cohort. A person counts as
--   male if any of their charge records in the window says so.
WITH people AS (
    SELECT period, person, bool_or(male) AS male, min(offence_date) AS first_date
    FROM y1_cohort_charges
    GROUP BY period, person
),
first_age AS (
    SELECT c.period, c.person, min(c.age) AS age
    FROM y1_cohort_charges c
    JOIN people p ON p.period = c.period AND p.person = c.person AND c.offence_date = p.first_date
    GROUP BY c.period, c.person
),
people_stats AS (
    SELECT p.period, count(*) AS people, sum(CASE WHEN p.male THEN 1 ELSE 0 END) AS male, avg(f.age) AS mean_age
    FROM people p JOIN first_age f ON f.period = p.period AND f.person = p.person
    GROUP BY p.period
),
offence_stats AS (
    SELECT c.period,
           count(*) AS offences,
           sum(CASE WHEN oc.offence_group = 'robbery' THEN 1 ELSE 0 END) AS robbery,
           sum(CASE WHEN oc.offence_group = 'violence_against_the_person' THEN 1 ELSE 0 END) AS violence,
           sum(CASE WHEN oc.offence_group = 'drug_offences' THEN 1 ELSE 0 END) AS drugs
    FROM y1_cohort_charges c
    LEFT JOIN offence_codes oc ON oc.offence_code = c.offence_code
    GROUP BY c.period
)
SELECT w.period,
       w.window_label,
       coalesce(ps.people, 0) AS people,
       coalesce(os.offences, 0) AS offences,
       coalesce(ps.male, 0) AS male,
       round(ps.male * 100.0 / ps.people, 1) AS pct_male,
       round(ps.mean_age, 1) AS mean_age_first_charge,
       coalesce(os.robbery, 0) AS offences_robbery,
       coalesce(os.violence, 0) AS offences_violence_against_the_person,
       coalesce(os.drugs, 0) AS offences_drug_offences,
       coalesce(os.offences - os.robbery - os.violence - os.drugs, 0) AS offences_other
FROM cohort_windows w
LEFT JOIN people_stats ps ON ps.period = w.period
LEFT JOIN offence_stats os ON os.period = w.period
ORDER BY w.period
