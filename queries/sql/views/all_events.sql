-- Every event in the lake, every version, with the envelope fields the
-- data-quality measure checks and the table it is in.
SELECT 'police_offences' AS table_name, partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM police_offences_log
UNION ALL SELECT 'police_asb', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM police_asb_log
UNION ALL SELECT 'ae_attendances', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM ae_attendances_log
UNION ALL SELECT 'yj_outcomes', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM yj_outcomes_log
UNION ALL SELECT 'education_events', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM education_events_log
UNION ALL SELECT 'ace_screenings', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM ace_screenings_log
UNION ALL SELECT 'survey_responses', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM survey_responses_log
UNION ALL SELECT 'commitments', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM commitments_log
UNION ALL SELECT 'police_uk_crimes', partner, extract_id, occurred_at, subject, age, sex, home_lsoa, event_lsoa FROM police_uk_crimes_log
