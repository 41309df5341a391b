-- P1 Safety perception
-- Measures: the % of survey respondents who feel safe in their area (an
--   answer of 4 or 5 on the 1-5 agreement scale), by area and reporting
--   period; and for young people (age bands 11-15 and 16-24) the four
--   dimensions of the city's youth consultation: safe, supported,
--   respected, hopeful.
-- Parameters: the focus area (area 'focus' combines its local authorities).
-- Denominator: respondents who answered that question.
WITH r AS (
    SELECT p.period, p.period_type, s.area_code, s.age_band, s.feel_safe, s.feel_supported, s.feel_respected, s.feel_hopeful
    FROM report_periods p
    JOIN survey_responses s ON s.occurred_at >= p.start_ts AND s.occurred_at < p.end_ts
),
placed AS (
    SELECT r.*, r.area_code AS area FROM r
    UNION ALL
    SELECT r.*, 'focus' AS area FROM r JOIN focus_area f ON f.la_code = r.area_code
),
answers AS (
    SELECT period, period_type, area, 'all' AS respondents, 'safe' AS dimension, 1 AS ordinal, feel_safe AS answer FROM placed
    UNION ALL SELECT period, period_type, area, 'young_people', 'safe', 2, feel_safe FROM placed WHERE age_band IN ('11-15', '16-24')
    UNION ALL SELECT period, period_type, area, 'young_people', 'supported', 3, feel_supported FROM placed WHERE age_band IN ('11-15', '16-24')
    UNION ALL SELECT period, period_type, area, 'young_people', 'respected', 4, feel_respected FROM placed WHERE age_band IN ('11-15', '16-24')
    UNION ALL SELECT period, period_type, area, 'young_people', 'hopeful', 5, feel_hopeful FROM placed WHERE age_band IN ('11-15', '16-24')
)
SELECT period, period_type, area AS area_code, respondents, dimension,
       count(answer) AS answered,
       sum(CASE WHEN answer >= 4 THEN 1 ELSE 0 END) AS agree,
       round(sum(CASE WHEN answer >= 4 THEN 1 ELSE 0 END) * 100.0 / nullif(count(answer), 0), 1) AS pct_agree
FROM answers
GROUP BY period, period_type, area, respondents, dimension, ordinal
ORDER BY period_type, period, area_code, ordinal
