-- C1 Cohort risk factors
-- Measures: for the cohort (default Y1's, see c1_cohort) and a comparison
--   population, the % with at least one school suspension, a permanent
--   exclusion, an alternative-provision placement, a NEET status, and 6 or
--   more ACE indicators present; with the relative risk (cohort % /
--   comparison %). Education and ACE records count if dated before the
--   window ends.
-- Parameters: the cohort and its window (cohort_windows), the indicator
--   sets found (indicator_sets: CDC10 has 10 indicators, PHW9 has 9).
-- Denominators: the comparison population is everyone in the school
--   census in the window aged 10-17 who is not in the cohort. For the ACE
--   row the denominator is those screened at least once (unknown is not
--   absent: an unscreened child is not counted as having no ACEs).
WITH cohort AS (
    SELECT DISTINCT period, person FROM c1_cohort
),
comparison AS (
    SELECT DISTINCT w.period, e.subject AS person
    FROM cohort_windows w
    JOIN education_events e
      ON e.kind = 'school_census' AND e.occurred_at >= w.window_start AND e.occurred_at < w.window_end AND e.age BETWEEN 10 AND 17
    WHERE NOT EXISTS (SELECT 1 FROM cohort c WHERE c.period = w.period AND c.person = e.subject)
),
grp AS (
    SELECT period, person, 'cohort' AS side FROM cohort
    UNION ALL
    SELECT period, person, 'comparison' AS side FROM comparison
),
factor_list AS (
    SELECT column1 AS factor, column2 AS ordinal
    FROM (VALUES ('suspension', 1), ('permanent_exclusion', 2), ('alternative_provision', 3), ('neet', 4), ('ace_6_plus', 5))
),
education AS (
    SELECT DISTINCT w.period, e.subject AS person,
           CASE e.kind WHEN 'suspension' THEN 'suspension'
                       WHEN 'permanent_exclusion' THEN 'permanent_exclusion'
                       WHEN 'ap_placement' THEN 'alternative_provision'
                       ELSE 'neet' END AS factor
    FROM cohort_windows w
    JOIN education_events e ON e.occurred_at < w.window_end
    WHERE e.kind IN ('suspension', 'permanent_exclusion', 'ap_placement') OR (e.kind = 'neet_status' AND e.status = 'neet')
),
screened AS (
    SELECT w.period, a.subject AS person, max(a.n_present) AS most_present
    FROM cohort_windows w
    JOIN ace_screenings a ON a.occurred_at < w.window_end
    GROUP BY w.period, a.subject
),
factors AS (
    SELECT period, person, factor FROM education
    UNION ALL
    SELECT period, person, 'ace_6_plus' FROM screened WHERE most_present >= 6
),
stats AS (
    SELECT g.period, fl.factor, fl.ordinal, g.side,
           count(f.person) AS n,
           sum(CASE WHEN fl.factor <> 'ace_6_plus' OR s.person IS NOT NULL THEN 1 ELSE 0 END) AS denominator
    FROM grp g
    CROSS JOIN factor_list fl
    LEFT JOIN factors f ON f.period = g.period AND f.person = g.person AND f.factor = fl.factor
    LEFT JOIN screened s ON s.period = g.period AND s.person = g.person
    GROUP BY g.period, fl.factor, fl.ordinal, g.side
),
sets AS (
    SELECT string_agg(DISTINCT indicator_set, ', ' ORDER BY indicator_set) AS indicator_sets FROM ace_screenings
),
-- stats has one row per period, factor and side; it is read once (a CTE
-- read twice is computed twice by DataFusion) and its two sides pivoted.
pivot AS (
    SELECT w.period, w.window_label, fl.factor, fl.ordinal,
           coalesce(sum(CASE WHEN s.side = 'cohort' THEN s.n END), 0) AS cohort_n,
           coalesce(sum(CASE WHEN s.side = 'cohort' THEN s.denominator END), 0) AS cohort_denominator,
           coalesce(sum(CASE WHEN s.side = 'comparison' THEN s.n END), 0) AS comparison_n,
           coalesce(sum(CASE WHEN s.side = 'comparison' THEN s.denominator END), 0) AS comparison_denominator
    FROM cohort_windows w
    CROSS JOIN factor_list fl
    LEFT JOIN stats s ON s.period = w.period AND s.factor = fl.factor
    GROUP BY w.period, w.window_label, fl.factor, fl.ordinal
)
SELECT v.period,
       v.window_label,
       v.factor,
       v.cohort_n,
       v.cohort_denominator,
       CASE WHEN v.cohort_denominator > 0 THEN round(v.cohort_n * 100.0 / v.cohort_denominator, 1) END AS cohort_pct,
       v.comparison_n,
       v.comparison_denominator,
       CASE WHEN v.comparison_denominator > 0 THEN round(v.comparison_n * 100.0 / v.comparison_denominator, 1) END AS comparison_pct,
       CASE WHEN v.cohort_denominator > 0 AND v.comparison_n > 0
            THEN round((v.cohort_n * 1.0 / v.cohort_denominator) / (v.comparison_n * 1.0 / v.comparison_denominator), 2) END AS relative_risk,
       CASE WHEN v.factor = 'ace_6_plus' THEN s.indicator_sets END AS indicator_sets
FROM pivot v
CROSS JOIN sets s
ORDER BY v.period, v.ordinal
