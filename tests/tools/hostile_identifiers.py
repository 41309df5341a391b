"""Writes the identifier, systematic-fault and domain-value cases of the
hostile corpus (issue: no raw identifier reaches Kafka, the lake or a log).
Each file is a small valid extract with one thing planted in it. Run from
the repository root; the files are committed, this script documents how
they were made. The case table in `ingest/tests/corpus/identifiers.rs`
states what each must end as."""
import csv, hashlib, io, os

ROOT = "tests/hostile"

def hexid(seed, upper=False):
    h = hashlib.sha256(seed.encode()).hexdigest()
    return h.upper() if upper else h

def upn(body):
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
    value = lambda c: int(c) if c.isdigit() else letters.index(c)
    total = sum(value(c) * (i + 2) for i, c in enumerate(body))
    return letters[total % 23] + body

def write(partner, name, header, rows, newline="\n"):
    os.makedirs(f"{ROOT}/{partner}", exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    with open(f"{ROOT}/{partner}/{name}", "w", newline="", encoding="utf-8") as f:
        f.write(buf.getvalue())

OFF_H = ["record_id","record_version","crime_ref","offence_code","committed_at","recorded_date","offence_lsoa","role","person_id","age","sex","home_lsoa","knife_flag","firearm_flag","domestic_flag","outcome","outcome_date"]
def off_rows(n=10, upper=False):
    codes = ["8N", "34B", "105A", "8P", "5D"]
    roles = ["victim", "suspect", "charged"]
    rows = []
    for i in range(1, n + 1):
        m = 1 + i % 9
        rows.append([f"R-{i:02}", "1", hexid(f"crime{i}", upper), codes[i % 5], f"2024-{m:02}-1{i % 10} 21:15", f"2024-{m:02}-2{i % 8}",
                     f"E0101{i:04}", roles[i % 3], hexid(f"person{i}", upper), str(14 + i % 40), "MF"[i % 2], f"E0102{i:04}", "N", "N", "", "", ""])
    return rows

AE_H = ["record_id","record_version","site_code","arrival_at","assault_at","assault_method","location_type","location_description","patient_id","age","sex","home_lsoa"]
def ae_rows(n=10):
    return [[f"R-{i:02}", "1", "RW3", f"2024-02-{i:02} 23:10", f"2024-02-{i:02} 22:40", "body_part", "public_place", "outside the shop",
             hexid(f"patient{i}"), str(15 + i), "MF"[i % 2], f"E0104{i:04}"] for i in range(1, n + 1)]

CEN_H = ["record_id","record_version","pupil_id","age","sex","home_lsoa","school","census_date"]
def census_rows(n=10, upper=False):
    return [[f"R-{i:02}", "1", hexid(f"pupil{i}", upper), str(11 + i % 6), "MF"[i % 2], f"E0106{i:04}", f"URN10{i}", "2024-01-18"] for i in range(1, n + 1)]

SUS_H = ["record_id","record_version","pupil_id","age","sex","home_lsoa","school","start_date","sessions","reason_1","reason_2","reason_3"]
def sus_rows(n=10):
    return [[f"R-{i:02}", "1", hexid(f"pupil{i}"), str(11 + i % 6), "MF"[i % 2], f"E0106{i:04}", f"URN10{i}", f"2024-03-{i:02}", "2", "PP", "", ""] for i in range(1, n + 1)]

YJ_H = ["record_id","record_version","child_id","age","sex","home_lsoa","offence_code","offence_date","outcome","outcome_date","gravity_score"]
def yj_rows(n=10):
    return [[f"R-{i:02}", "1", hexid(f"child{i}"), str(12 + i % 6), "MF"[i % 2], f"E0105{i:04}", "8N", f"2023-0{1 + i % 8}-15", "caution", f"2023-1{i % 3}-20", "2"] for i in range(1, n + 1)]

ACE_H = ["record_id","record_version","child_id","age","sex","assessment_date","indicator_set","physical_abuse"]
def ace_rows(n=10):
    return [[f"R-{i:02}", "1", hexid(f"child{i}"), str(10 + i % 7), "MF"[i % 2], f"2024-02-{i:02}", "cdc10", "n"] for i in range(1, n + 1)]

SUR_H = ["record_id","record_version","wave_date","area_code","age_band","feel_safe"]
def sur_rows(n=10):
    return [[f"R-{i:02}", "1", "2024-05-01", "E05001234", "16-24", str(1 + i % 5)] for i in range(1, n + 1)]

COM_H = ["record_id","record_version","title","priority","owner","due_date","status","status_date"]
def com_rows(n=10):
    return [[f"R-{i:02}", "1", f"Commitment {i}", "support_and_protect", "Community safety team", "2025-03-31", "on_track", "2025-01-15"] for i in range(1, n + 1)]

STREET_H = ["Crime ID","Month","Reported by","Falls within","Longitude","Latitude","Location","LSOA code","LSOA name","Crime type","Last outcome category","Context"]
def street_rows(n=10):
    return [[hexid(f"street{i}"), "2024-03", "Cleveland Police", "Cleveland Police", f"-1.2{i:02}", f"54.5{i:02}", "On or near Oak Street", f"E0102{i:04}",
             f"Middlesbrough 0{i:02}A", "Violence and sexual offences", "Under investigation", ""] for i in range(1, n + 1)]

def nhs(nine):
    """`nine` digits and their modulus-11 check digit (None when it would be 10)."""
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return None if check == 10 else nine + str(check)

def put(rows, i, col, header, value):
    rows[i][header.index(col)] = value
    return rows

U = upn("801201710001")  # a valid UPN, check letter computed
P, E, AE, ED, YJ = "police-northshire", None, "ae-northshire", "education-northshire", "yjs-northshire"

cases = []
def case(partner, name, header, rows, newline="\n"):
    write(partner, name, header, rows, newline)

# Identifiers that used to reach the lake.
case(ED, "census_upn_record_ids.csv", CEN_H, [[upn(f"80120171{i:04}")] + r[1:] for i, r in enumerate(census_rows())])
case(ED, "census_upn_in_school.csv", CEN_H, put(census_rows(), 3, "school", CEN_H, f"Oakfield Academy ({U})"))
case(ED, "census_postcode_in_school_name.csv", CEN_H, put(census_rows(), 4, "school", CEN_H, "Oakfield Academy, LS6 2QX"))
case(ED, "census_email_in_school.csv", CEN_H, put(census_rows(), 5, "school", CEN_H, "head.teacher@oakfield.leeds.sch.uk"))
case(ED, "census_phone_in_school.csv", CEN_H, put(census_rows(), 6, "school", CEN_H, "Oakfield, tel 0113 496 0000"))
case(ED, "census_dob_in_school.csv", CEN_H, put(census_rows(), 2, "school", CEN_H, "URN103 DOB 01/02/2010"))
case(ED, "census_ni_number_in_school.csv", CEN_H, put(census_rows(), 7, "school", CEN_H, "AB 12 34 56 C"))
case(ED, "census_name_in_pupil_id.csv", CEN_H, put(census_rows(), 3, "pupil_id", CEN_H, "Jayden Smith"))
case(ED, "census_nhs_wrong_check_in_pupil_id.csv", CEN_H, put(census_rows(), 8, "pupil_id", CEN_H, "9434765918"))
case(ED, "census_upper_case_pseudonyms.csv", CEN_H, census_rows(upper=True))
case(ED, "census_scottish_and_welsh_homes.csv", CEN_H, put(put(put(census_rows(), 1, "home_lsoa", CEN_H, "S01006506"), 2, "home_lsoa", CEN_H, "W01001234"), 3, "home_lsoa", CEN_H, "95AA01S1"))
case(ED, "census_lower_case_lsoa.csv", CEN_H, [r[:5] + [r[5].lower()] + r[6:] for r in census_rows()])
case(ED, "census_nhs_sex_codes.csv", CEN_H, [r[:4] + [s] + r[5:] for r, s in zip(census_rows(), ["1", "2", "9", "0", "X", "x", "I", "M", "F", "U"])])
case(ED, "census_formula_school.csv", CEN_H, put(census_rows(), 4, "school", CEN_H, '=HYPERLINK("http://evil.example/x","open")'))
case(ED, "census_formula_record_id.csv", CEN_H, put(census_rows(), 6, "record_id", CEN_H, "@SUM(A1:A9)"))
case(ED, "census_scientific_record_ids.csv", CEN_H, [[{2: "1.20003E+11", 5: "1.20004E+11", 7: "1.20005E+11"}.get(i, r[0])] + r[1:] for i, r in enumerate(census_rows())])
case(ED, "census_month_first_dates.csv", CEN_H, [r[:7] + [d] for r, d in zip(census_rows(), ["01/18/2024"] + ["01/02/2024"] * 9)])
case(ED, "census_placeholder_date.csv", CEN_H, put(census_rows(), 5, "census_date", CEN_H, "1900-01-01"))
case(ED, "census_2024-03-01_after_extract_date.csv", CEN_H, put(census_rows(), 5, "census_date", CEN_H, "2024-05-15"))
case(ED, "census_header_legal_name.csv", CEN_H + ["Legal Name"], [r + ["x"] for r in census_rows()])
case(ED, "census_header_former_upn.csv", CEN_H + ["Former UPN"], [r + [""] for r in census_rows()])
case(ED, "suspensions_sessions_over_maximum.csv", SUS_H, put(sus_rows(), 3, "sessions", SUS_H, "120"))
case(ED, "suspensions_nhs_spaced_in_school.csv", SUS_H, put(sus_rows(), 3, "school", SUS_H, "URN104 943 476 5919"))
# A&E.
case(AE, "attendances_nhs_spaced_in_description.csv", AE_H, put(ae_rows(), 4, "location_description", AE_H, "patient 943 476 5919 brought in by friend"))
case(AE, "attendances_nhs_dotted_record_id.csv", AE_H, put(ae_rows(), 2, "record_id", AE_H, "943.476.5919"))
case(AE, "attendances_nhs_plain_in_description.csv", AE_H, put(ae_rows(), 6, "location_description", AE_H, "ref 9434765919"))
case(AE, "attendances_postcode_in_sentence.csv", AE_H, put(ae_rows(), 7, "location_description", AE_H, "found near ls62qx by police"))
case(AE, "attendances_house_number_address.csv", AE_H, put(ae_rows(), 3, "location_description", AE_H, "outside 12 Oak Street"))
case(AE, "attendances_flat_number.csv", AE_H, put(ae_rows(), 3, "location_description", AE_H, "Flat 3 stairwell"))
case(AE, "attendances_dob_in_description.csv", AE_H, put(ae_rows(), 5, "location_description", AE_H, "home, dob 3.4.2009"))
case(AE, "attendances_email_in_description.csv", AE_H, put(ae_rows(), 1, "location_description", AE_H, "mum (jo.bloggs@example.com) called"))
case(AE, "attendances_mobile_in_description.csv", AE_H, put(ae_rows(), 8, "location_description", AE_H, "mum on 07700 900123"))
case(AE, "attendances_international_phone_site.csv", AE_H, put(ae_rows(), 2, "site_code", AE_H, "+44 113 496 0000"))
case(AE, "attendances_upn_in_description.csv", AE_H, put(ae_rows(), 4, "location_description", AE_H, f"pupil {U} from Oakfield"))
case(AE, "attendances_sex_x_not_known.csv", AE_H, [r[:10] + ["X"] + r[11:] for r in ae_rows()])
case(AE, "attendances_nhs_number_in_age.csv", AE_H, put(ae_rows(), 5, "age", AE_H, "9434765919"))
case(AE, "attendances_phone_in_age.csv", AE_H, put(ae_rows(), 5, "age", AE_H, "07700900123"))
case(AE, "attendances_free_text_too_long.csv", AE_H, put(ae_rows(), 5, "location_description", AE_H, "a long account " * 80))
case(AE, "attendances_formula_in_description.csv", AE_H, put(ae_rows(), 5, "location_description", AE_H, "=cmd|' /C calc'!A0"))
case(AE, "attendances_conflicting_rows.csv", AE_H, ae_rows() + [put(ae_rows(), 2, "age", AE_H, "40")[2]])
case(AE, "attendances_identical_rows.csv", AE_H, ae_rows() + [ae_rows()[2]])
case(AE, "attendances_header_nhs_number_cell.csv", AE_H[:-1] + ["943 476 5919"], ae_rows())
# Police.
case(P, "offences_postcode_in_offence_lsoa.csv", OFF_H, put(off_rows(), 3, "offence_lsoa", OFF_H, "LS6 2QX"))
case(P, "offences_postcode_in_home_lsoa.csv", OFF_H, put(off_rows(), 4, "home_lsoa", OFF_H, "m11ae"))
case(P, "offences_name_in_person_id.csv", OFF_H, put(off_rows(), 5, "person_id", OFF_H, "SMITH, Jayden"))
case(P, "offences_nhs_wrong_check_in_person_id.csv", OFF_H, put(off_rows(), 6, "person_id", OFF_H, "9434765918"))
case(P, "offences_truncated_pseudonym.csv", OFF_H, put(off_rows(), 7, "person_id", OFF_H, hexid("person8")[:63]))
case(P, "offences_crime_number_in_crime_ref.csv", OFF_H, put(off_rows(), 2, "crime_ref", OFF_H, "13/123456/24"))
case(P, "offences_upper_case_pseudonyms.csv", OFF_H, off_rows(upper=True))
case(P, "offences_nhs_number_in_age.csv", OFF_H, put(off_rows(), 8, "age", OFF_H, "943 476 5919"))
case(P, "offences_charged_under_ten.csv", OFF_H, put(off_rows(), 1, "age", OFF_H, "8"))
case(P, "offences_lower_case_lsoa.csv", OFF_H, [r[:6] + [r[6].lower()] + r[7:] for r in off_rows()])
case(P, "offences_scientific_record_ids.csv", OFF_H, [["1.20003E+11" if i == 4 else r[0]] + r[1:] for i, r in enumerate(off_rows())])
case(P, "offences_month_first_dates.csv", OFF_H, [r[:4] + [d] + ["", r[6]] + r[7:] for r, d in zip(off_rows(), ["02/13/2024 21:15"] + ["02/03/2024 21:15"] * 9)])
case(P, "offences_excel_placeholder_date.csv", OFF_H, put(put(off_rows(), 3, "outcome", OFF_H, "charged"), 3, "outcome_date", OFF_H, "1899-12-30"))
case(P, "offences_2024-10-31_after_extract_date.csv", OFF_H, put(off_rows(), 2, "recorded_date", OFF_H, "2024-11-15"))
case(P, "offences_email_record_id.csv", OFF_H, put(off_rows(), 4, "record_id", OFF_H, "jo@example.org"))
case(P, "asb_nhs_plain_record_ids.csv", ["record_id","record_version","incident_at","lsoa","category"],
     [[v, "1", f"2024-01-{i:02} 10:00", f"E0103{i:04}", "nuisance"] for i, v in enumerate([n for n in (nhs(f"{401023210 + k * 7919}") for k in range(12)) if n][:6], 1)])
# Youth justice, ACE, survey, commitments, public data.
case(YJ, "outcomes_under_ten.csv", YJ_H, put(yj_rows(), 4, "age", YJ_H, "9"))
case(YJ, "outcomes_name_in_child_id.csv", YJ_H, put(yj_rows(), 4, "child_id", YJ_H, "Jayden"))
case(YJ, "outcomes_scottish_home.csv", YJ_H, put(yj_rows(), 4, "home_lsoa", YJ_H, "S01006506"))
case("ace-northshire", "screenings_postcode_in_child_id.csv", ACE_H, put(ace_rows(), 4, "child_id", ACE_H, "B33 8TH"))
case("survey-northshire", "responses_postcode_in_area_code.csv", SUR_H, put(sur_rows(), 4, "area_code", SUR_H, "B33 8TH"))
case("commitments-northshire", "commitments_future_due_date.csv", COM_H, put(com_rows(), 4, "due_date", COM_H, "2027-03-31"))
case("commitments-northshire", "commitments_email_owner.csv", COM_H, put(com_rows(), 4, "owner", COM_H, "j.smith@council.gov.uk"))
case("commitments-northshire", "commitments_phone_in_title.csv", COM_H, put(com_rows(), 4, "title", COM_H, "Refer via 0113 496 0000"))
case("police_uk-public", "2024-03-house-number-location.csv", STREET_H, put(street_rows(), 4, "Location", STREET_H, "12 Oak Street"))
case("police_uk-public", "2024-03-nhs-in-context.csv", STREET_H, put(street_rows(), 4, "Context", STREET_H, "victim 943-476-5919"))
