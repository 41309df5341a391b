-- Charges of young people aged 10-17 (at the offence) with a
-- serious-violence offence, from both partners that record them: police
-- (role 'charged', offence in the focus area) and the youth justice service
-- (outcome 'charge'; it carries no knife/firearm/domestic flags, so only
-- the code classifies). The same charge from both is one row: linked by
-- person pseudonym, offence date and offence code.
WITH both_sources AS (
    SELECT o.subject AS person, CAST(o.occurred_at AS DATE) AS offence_date, o.offence_code, o.age, o.sex
    FROM police_offences o
    JOIN sv_classification c
      ON c.offence_code = o.offence_code AND c.knife = o.knife AND c.firearm = o.firearm AND c.domestic = o.domestic
    JOIN lsoa_lookup l ON l.lsoa_code = o.event_lsoa
    JOIN focus_area f ON f.la_code = l.la_code
    WHERE o.role = 'charged' AND o.age BETWEEN 10 AND 17 AND o.subject IS NOT NULL
    UNION ALL
    SELECT y.subject AS person, CAST(y.occurred_at AS DATE) AS offence_date, y.offence_code, y.age, y.sex
    FROM yj_outcomes y
    JOIN sv_classification c
      ON c.offence_code = y.offence_code AND NOT c.knife AND NOT c.firearm AND NOT c.domestic
    WHERE y.outcome = 'charge' AND y.age BETWEEN 10 AND 17 AND y.subject IS NOT NULL
)
SELECT person, offence_date, offence_code, min(age) AS age, bool_or(sex = 'M') AS male
FROM both_sources
GROUP BY person, offence_date, offence_code
