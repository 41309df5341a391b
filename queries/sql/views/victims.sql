-- Victims of recorded crimes (police rows with role 'victim'), with the
-- crime's current classification and place, and where the victim lives.
SELECT o.partner, o.crime_ref, o.subject, o.age, o.sex, o.home_lsoa,
       hl.la_code AS home_la_code, hf.la_code IS NOT NULL AS home_in_focus,
       c.category, c.offence_code, c.knife, c.occurred_at, c.la_code, c.in_focus
FROM police_offences o
JOIN crimes c ON c.partner = o.partner AND c.crime_ref = o.crime_ref
LEFT JOIN lsoa_lookup hl ON hl.lsoa_code = o.home_lsoa
LEFT JOIN focus_area hf ON hf.la_code = hl.la_code
WHERE o.role = 'victim'
