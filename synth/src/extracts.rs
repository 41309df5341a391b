//! Writes the city as partners would send it: one landing sub-folder per
//! partner, one CSV per extract kind and financial year, named with the
//! extract date; plus the reference tables, the pseudonym key (which a real
//! partner would keep to itself) and the planted truths.

use crate::police::{Home, extract_date};
use crate::services::EduKind;
use crate::truth::FileStats;
use crate::{City, Summary, SynthError};
use chrono::{Datelike, NaiveDate};
use std::fs;
use std::path::Path;
use vru_model::extract::{Column, ExtractKind};

pub const POLICE: &str = "police-northshire";
pub const AE: &str = "ae-castlebridge";
pub const YJS: &str = "yjs-castlebridge";
pub const EDUCATION: &str = "education-castlebridge";
pub const ACE: &str = "ace-castlebridge";
pub const SURVEY: &str = "survey-northshire";
pub const COMMITMENTS: &str = "commitments-castlebridge-vru";
pub const AMBULANCE: &str = "ambulance-northshire";

/// One CSV row addressed by column name, so a typo in the generator fails
/// loudly instead of shifting columns.
struct RowBuf {
    cols: &'static [Column],
    vals: Vec<String>,
}

impl RowBuf {
    fn new(kind: ExtractKind) -> Self {
        let cols = kind.columns();
        RowBuf { cols, vals: vec![String::new(); cols.len()] }
    }
    fn set(&mut self, name: &str, v: impl ToString) -> &mut Self {
        let i = self.cols.iter().position(|c| c.name == name).unwrap_or_else(|| panic!("no column {name}"));
        self.vals[i] = v.to_string();
        self
    }
    fn opt(&mut self, name: &str, v: Option<impl ToString>) -> &mut Self {
        if let Some(v) = v {
            self.set(name, v);
        }
        self
    }
}

struct Extract {
    writer: csv::Writer<fs::File>,
    path: String,
    stats: FileStats,
}

impl Extract {
    fn create(root: &Path, partner: &str, kind: ExtractKind, date: NaiveDate) -> Result<Self, SynthError> {
        let dir = root.join(partner);
        fs::create_dir_all(&dir).map_err(|source| SynthError::Io { path: dir.display().to_string(), source })?;
        let path = dir.join(format!("{}_{date}.csv", kind.prefix()));
        let p = path.display().to_string();
        let mut writer = csv::Writer::from_path(&path).map_err(|source| SynthError::Csv { path: p.clone(), source })?;
        writer.write_record(kind.columns().iter().map(|c| c.name)).map_err(|source| SynthError::Csv { path: p.clone(), source })?;
        let stats = FileStats {
            partner: partner.to_string(),
            file_name: format!("{}_{date}.csv", kind.prefix()),
            extract_date: Some(date),
            rows: 0,
            new_event_dates: Vec::new(),
        };
        Ok(Extract { writer, path: p, stats })
    }
    /// `event_date`: the date of an event first sent in this file; `None`
    /// for a row re-sent from an earlier extract.
    fn write(&mut self, row: &RowBuf, event_date: Option<NaiveDate>) -> Result<(), SynthError> {
        self.stats.rows += 1;
        self.stats.new_event_dates.extend(event_date);
        self.writer.write_record(&row.vals).map_err(|source| SynthError::Csv { path: self.path.clone(), source })
    }
    fn finish(mut self) -> Result<FileStats, SynthError> {
        self.writer.flush().map_err(|source| SynthError::Io { path: self.path.clone(), source })?;
        Ok(self.stats)
    }
}

fn home_code(city: &City, h: &Home) -> Option<String> {
    match h {
        Home::Lsoa(i) => Some(city.geo.lsoas[*i].code.clone()),
        Home::Outside(code) => Some(code.clone()),
        Home::Unknown => None,
    }
}

fn sex(s: vru_model::Sex) -> &'static str {
    s.as_str()
}

pub fn write_all(city: &City, out: &Path) -> Result<Summary, SynthError> {
    let landing = out.join("landing");
    let mut files: Vec<FileStats> = Vec::new();
    let mut done = |r: Result<FileStats, SynthError>| -> Result<(), SynthError> {
        files.push(r?);
        Ok(())
    };
    let c = &city.config;
    for fy in c.first_fy..=c.last_fy() {
        done(police_offences(city, &landing, fy))?;
        done(asb(city, &landing, fy))?;
        done(ae(city, &landing, fy))?;
        done(yjs(city, &landing, fy))?;
        for kind in
            [ExtractKind::SchoolCensus, ExtractKind::Suspensions, ExtractKind::Exclusions, ExtractKind::ApPlacements, ExtractKind::Neet]
        {
            done(education(city, &landing, fy, kind))?;
        }
        done(ace(city, &landing, fy))?;
        done(survey(city, &landing, fy))?;
        done(commitments(city, &landing, fy))?;
        done(callouts(city, &landing, fy))?;
    }
    let reference = out.join("reference");
    write_reference(city, &reference)?;
    let keys = out.join("keys");
    fs::create_dir_all(&keys).map_err(|source| SynthError::Io { path: keys.display().to_string(), source })?;
    let key_file = keys.join("pseudonym.key");
    write_text(&key_file, &format!("{}\n", city.people.key_text))?;
    let truth_file = out.join("truth.json");
    let truth = crate::truth::Truth::compute(city, &files);
    write_text(&truth_file, &serde_json::to_string_pretty(&truth).expect("truth serialises"))?;
    Ok(Summary {
        landing: landing.display().to_string(),
        reference: reference.display().to_string(),
        key_file: key_file.display().to_string(),
        truth_file: truth_file.display().to_string(),
        focus_area: city.geo.focus_las().iter().map(|l| l.code.clone()).collect(),
        rows: files.iter().map(|f| f.rows).sum(),
        files: files.len(),
    })
}

fn write_text(path: &Path, text: &str) -> Result<(), SynthError> {
    fs::write(path, text).map_err(|source| SynthError::Io { path: path.display().to_string(), source })
}

fn fy_of(d: NaiveDate) -> i32 {
    if d.month() >= 4 { d.year() } else { d.year() - 1 }
}

fn police_offences(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::PoliceOffences;
    let mut x = Extract::create(landing, POLICE, kind, extract_date(fy))?;
    let people = &city.people;
    let mut rng = city.config.rng(100 + fy as u64);
    for crime in &city.police.crimes {
        let crime_fy = fy_of(crime.recorded);
        // This year's offences; last year's corrections (version 2); and a
        // few of last year's rows sent again unchanged, as overlapping
        // extracts do.
        let (version, code, new) = if crime_fy == fy {
            (1, crime.v1_code.unwrap_or(crime.code), true)
        } else if crime_fy == fy - 1 && crime.v1_code.is_some() {
            (2, crime.code, true)
        } else if crime_fy == fy - 1 && rand::Rng::random_bool(&mut rng, 0.02) {
            (1, crime.v1_code.unwrap_or(crime.code), false)
        } else {
            continue;
        };
        for r in &crime.rows {
            let mut row = RowBuf::new(kind);
            row.set("record_id", &r.record_id)
                .set("record_version", version)
                .set("crime_ref", people.pseudonym(&crime.crime_raw))
                .set("offence_code", code)
                .set("committed_at", crime.committed.format("%Y-%m-%d %H:%M:%S"))
                .set("recorded_date", crime.recorded)
                .set("offence_lsoa", &city.geo.lsoas[crime.lsoa].code)
                .set("role", r.role.as_str())
                .opt("person_id", r.raw_id.as_deref().map(|id| people.pseudonym(id)))
                .opt("age", r.age)
                .set("sex", sex(r.sex))
                .opt("home_lsoa", home_code(city, &r.home))
                .set("knife_flag", if crime.knife { "Y" } else { "N" })
                .set("firearm_flag", if crime.firearm { "Y" } else { "N" })
                .set("domestic_flag", if crime.domestic { "Y" } else { "N" })
                .opt("outcome", r.outcome)
                .opt("outcome_date", r.outcome_date);
            x.write(&row, new.then(|| crime.committed.date()))?;
        }
    }
    x.finish()
}

fn asb(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::PoliceAsb;
    let mut x = Extract::create(landing, POLICE, kind, extract_date(fy))?;
    for a in city.police.asb.iter().filter(|a| fy_of(a.at.date()) == fy) {
        let mut row = RowBuf::new(kind);
        row.set("record_id", &a.record_id)
            .set("incident_at", a.at.format("%Y-%m-%dT%H:%M:%S"))
            .set("lsoa", &city.geo.lsoas[a.lsoa].code)
            .set("category", a.category);
        x.write(&row, Some(a.at.date()))?;
    }
    x.finish()
}

/// The hospital's system writes UK-style dates, as many do.
fn ae(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::AeAttendances;
    let mut x = Extract::create(landing, AE, kind, NaiveDate::from_ymd_opt(fy + 1, 4, 20).expect("date"))?;
    for a in city.services.ae.iter().filter(|a| fy_of(a.arrival.date()) == fy) {
        let mut row = RowBuf::new(kind);
        row.set("record_id", &a.record_id)
            .set("site_code", a.site)
            .set("arrival_at", a.arrival.format("%d/%m/%Y %H:%M"))
            .opt("assault_at", a.assault_at.map(|t| t.format("%d/%m/%Y %H:%M")))
            .opt("assault_method", a.method)
            .opt("location_type", a.location)
            .opt("location_description", a.description)
            .set("patient_id", city.people.pseudonym(&a.raw_id))
            .set("age", a.age)
            .set("sex", sex(a.sex))
            .opt("home_lsoa", home_code(city, &a.home));
        x.write(&row, Some(a.arrival.date()))?;
    }
    x.finish()
}

fn yjs(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::YjOutcomes;
    // Taken with the police extract: the outcomes it carries follow police
    // charges, which run up to that date (an extract holds nothing later).
    let mut x = Extract::create(landing, YJS, kind, extract_date(fy))?;
    for r in city.services.yjs.iter().filter(|r| fy_of(r.offence_date) == fy) {
        let p = &city.people.youths[r.youth];
        let mut row = RowBuf::new(kind);
        row.set("record_id", &r.record_id)
            .set("child_id", city.people.pseudonym(&p.raw_id))
            .set("age", r.age)
            .set("sex", sex(p.sex))
            .set("home_lsoa", &city.geo.lsoas[p.home].code)
            .set("offence_code", r.code)
            .set("offence_date", r.offence_date)
            .set("outcome", r.outcome)
            .set("outcome_date", r.outcome_date)
            .set("gravity_score", r.gravity);
        x.write(&row, Some(r.offence_date))?;
    }
    x.finish()
}

fn education(city: &City, landing: &Path, fy: i32, kind: ExtractKind) -> Result<FileStats, SynthError> {
    let (edu, date_col, extract) = match kind {
        ExtractKind::SchoolCensus => (EduKind::Census, "census_date", (fy + 1, 2, 15)),
        ExtractKind::Suspensions => (EduKind::Suspension, "start_date", (fy + 1, 6, 30)),
        // Exclusion data arrive two terms late.
        ExtractKind::Exclusions => (EduKind::Exclusion, "exclusion_date", (fy + 1, 11, 30)),
        ExtractKind::ApPlacements => (EduKind::Ap, "start_date", (fy + 1, 6, 30)),
        _ => (EduKind::Neet, "census_date", (fy + 1, 6, 30)),
    };
    let mut x = Extract::create(landing, EDUCATION, kind, NaiveDate::from_ymd_opt(extract.0, extract.1, extract.2).expect("date"))?;
    for e in city.services.education.iter().filter(|e| e.kind == edu && fy_of(e.date) == fy) {
        let p = &city.people.youths[e.youth];
        let mut row = RowBuf::new(kind);
        row.set("record_id", &e.record_id)
            .set("pupil_id", city.people.pseudonym(&p.raw_id))
            .set("age", e.age)
            .set("sex", sex(p.sex))
            .set("home_lsoa", &city.geo.lsoas[p.home].code)
            .set(date_col, e.date);
        match kind {
            ExtractKind::ApPlacements => {
                row.set("provider", &e.school).opt("end_date", e.end_date);
            }
            ExtractKind::Neet => {
                row.set("status", if e.neet == Some(true) { "neet" } else { "eet" });
            }
            _ => {
                row.set("school", &e.school).opt("sessions", e.sessions.filter(|_| kind == ExtractKind::Suspensions));
                for (i, r) in e.reasons.iter().enumerate() {
                    row.set(&format!("reason_{}", i + 1), r);
                }
            }
        }
        x.write(&row, Some(e.date))?;
    }
    x.finish()
}

fn ace(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::AceScreenings;
    let mut x = Extract::create(landing, ACE, kind, NaiveDate::from_ymd_opt(fy + 1, 5, 31).expect("date"))?;
    for a in city.services.ace.iter().filter(|a| fy_of(a.date) == fy) {
        let p = &city.people.youths[a.youth];
        let mut row = RowBuf::new(kind);
        row.set("record_id", &a.record_id)
            .set("child_id", city.people.pseudonym(&p.raw_id))
            .set("age", a.age)
            .set("sex", sex(p.sex))
            .set("assessment_date", a.date)
            .set("indicator_set", a.set);
        for (name, v) in &a.indicators {
            row.set(
                name,
                match v {
                    Some(true) => "Y",
                    Some(false) => "N",
                    None => "U",
                },
            );
        }
        x.write(&row, Some(a.date))?;
    }
    x.finish()
}

fn survey(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::SurveyResponses;
    let mut x = Extract::create(landing, SURVEY, kind, NaiveDate::from_ymd_opt(fy + 1, 1, 10).expect("date"))?;
    for r in city.community.survey.iter().filter(|r| fy_of(r.wave) == fy) {
        let mut row = RowBuf::new(kind);
        row.set("record_id", &r.record_id).set("wave_date", r.wave).set("area_code", &r.area).set("age_band", r.age_band);
        for (name, v) in ["feel_safe", "feel_supported", "feel_respected", "feel_hopeful"].iter().zip(r.answers) {
            row.opt(name, v);
        }
        x.write(&row, Some(r.wave))?;
    }
    x.finish()
}

/// The tracker's updates made in the year, each a new version of its commitment.
fn commitments(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::Commitments;
    let mut x = Extract::create(landing, COMMITMENTS, kind, NaiveDate::from_ymd_opt(fy + 1, 4, 10).expect("date"))?;
    for u in city.community.commitments.iter().filter(|u| fy_of(u.date) == fy) {
        let mut row = RowBuf::new(kind);
        row.set("record_id", &u.commitment)
            .set("record_version", u.version)
            .set("title", &u.title)
            .set("priority", u.priority)
            .set("owner", u.owner)
            .set("due_date", u.due)
            .set("status", u.status)
            .set("status_date", u.date);
        x.write(&row, Some(u.date))?;
    }
    x.finish()
}

fn write_reference(city: &City, dir: &Path) -> Result<(), SynthError> {
    fs::create_dir_all(dir).map_err(|source| SynthError::Io { path: dir.display().to_string(), source })?;
    let csv_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| SynthError::Csv { path: p.clone(), source }
    };
    let geo = &city.geo;
    let path = dir.join("lsoa_lookup.csv");
    let mut w = csv::Writer::from_path(&path).map_err(csv_err(&path))?;
    w.write_record(["lsoa_code", "lsoa_name", "ward_code", "ward_name", "la_code", "la_name"]).map_err(csv_err(&path))?;
    for l in &geo.lsoas {
        let ward = &geo.wards[l.ward];
        let la = &geo.las[l.la];
        w.write_record([&l.code, &l.name, &ward.code, &ward.name, &la.code, &la.name]).map_err(csv_err(&path))?;
    }
    w.flush().map_err(|source| SynthError::Io { path: path.display().to_string(), source })?;

    let path = dir.join("imd.csv");
    let mut w = csv::Writer::from_path(&path).map_err(csv_err(&path))?;
    w.write_record(["lsoa_code", "imd_rank", "imd_decile"]).map_err(csv_err(&path))?;
    for l in &geo.lsoas {
        w.write_record([l.code.clone(), l.rank.to_string(), l.decile.to_string()]).map_err(csv_err(&path))?;
    }
    w.flush().map_err(|source| SynthError::Io { path: path.display().to_string(), source })?;

    let path = dir.join("population.csv");
    let mut w = csv::Writer::from_path(&path).map_err(csv_err(&path))?;
    w.write_record(["lsoa_code", "year", "age", "population"]).map_err(csv_err(&path))?;
    for (i, l) in geo.lsoas.iter().enumerate() {
        for year in &geo.pop_years {
            for age in 0..=crate::geography::MAX_AGE {
                w.write_record([l.code.clone(), year.to_string(), age.to_string(), geo.population(i, age, *year).to_string()])
                    .map_err(csv_err(&path))?;
            }
        }
    }
    w.flush().map_err(|source| SynthError::Io { path: path.display().to_string(), source })?;
    Ok(())
}

/// The dispatch system's export: this year's call-outs, then last year's
/// corrections as version 2.
fn callouts(city: &City, landing: &Path, fy: i32) -> Result<FileStats, SynthError> {
    let kind = ExtractKind::AmbulanceCallouts;
    let mut x = Extract::create(landing, AMBULANCE, kind, NaiveDate::from_ymd_opt(fy + 1, 4, 25).expect("date"))?;
    let flag = |b: bool| if b { "Y" } else { "N" };
    for c in &city.ambulance {
        let (version, (assault, weapon)) = match fy_of(c.at.date()) {
            f if f == fy => (1, (c.assault, c.weapon)),
            f if f == fy - 1 && c.corrected => (2, c.latest()),
            _ => continue,
        };
        let mut row = RowBuf::new(kind);
        row.set("record_id", &c.record_id)
            .set("record_version", version)
            .set("call_at", c.at.format("%Y-%m-%d %H:%M:%S"))
            .set("category", c.category.to_ascii_uppercase())
            .opt("incident_lsoa", c.lsoa.map(|i| &city.geo.lsoas[i].code))
            .opt("age_band", c.age_band)
            .set("sex", sex(c.sex))
            .set("assault", flag(assault))
            .set("weapon", flag(weapon));
        x.write(&row, Some(c.at.date()))?;
    }
    x.finish()
}
