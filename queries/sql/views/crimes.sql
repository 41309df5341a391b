-- One row per police-recorded crime. The police extract has a row per crime
-- and person role; this keeps the crime's latest recorded form (highest
-- record version), classifies it with the run's serious-violence
-- definition (category NULL = outside the definition) and places it in its
-- financial year and area (where it happened).
-- The latest form is the row a `row_number() OVER (PARTITION BY partner,
-- crime_ref ORDER BY record_version DESC, record_id)` would number 1, picked
-- as the greatest vru_crime_key (which packs that order into bytes): the
-- window took three times as long as the rest of this view at 10x.
WITH latest AS (
    SELECT vru_crime_key_event_id(max(vru_crime_key(CAST(record_version AS BIGINT), record_id, event_id))) AS event_id
    FROM police_offences
    GROUP BY partner, crime_ref
),
ranked AS (
    SELECT o.partner, o.crime_ref, o.offence_code, o.knife, o.firearm, o.domestic, o.occurred_at, o.event_lsoa
    FROM police_offences o
    JOIN latest USING (event_id)
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
