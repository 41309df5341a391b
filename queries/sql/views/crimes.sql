-- One row per police-recorded crime. The police extract has a row per crime
-- and person role; this keeps the crime's latest recorded form (highest
-- record version), classifies it with the run's serious-violence
-- definition (category NULL = outside the definition) and places it in its
-- financial year and area (where it happened).
WITH ranked AS (
    SELECT partner, crime_ref, offence_code, knife, firearm, domestic, occurred_at, event_lsoa,
           row_number() OVER (PARTITION BY partner, crime_ref ORDER BY record_version DESC, record_id) AS rn
    FROM police_offences
)
SELECT r.partner, r.crime_ref, r.offence_code, r.knife, r.firearm, r.domestic, r.occurred_at, r.event_lsoa,
       CAST(CASE WHEN date_part('month', r.occurred_at) >= 4 THEN date_part('year', r.occurred_at)
                 ELSE date_part('year', r.occurred_at) - 1 END AS INT) AS fy_start,
       c.category,
       oc.offence_group,
       l.la_code,
       l.ward_code,
       f.la_code IS NOT NULL AS in_focus
FROM ranked r
LEFT JOIN sv_classification c
       ON c.offence_code = r.offence_code AND c.knife = r.knife AND c.firearm = r.firearm AND c.domestic = r.domestic
LEFT JOIN offence_codes oc ON oc.offence_code = r.offence_code
LEFT JOIN lsoa_lookup l ON l.lsoa_code = r.event_lsoa
LEFT JOIN focus_area f ON f.la_code = l.la_code
WHERE r.rn = 1
