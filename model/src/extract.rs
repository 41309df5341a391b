//! What a partner extract looks like and how each field is read. Every
//! source describes its extract kinds as a list of [`Column`]s; the same
//! typed getters then parse any row, so every error names its column the
//! same way and every source rejects the same things for the same reasons.

use crate::event::{Kind, Sex, Source};
use crate::identifiers;
use crate::ids::{is_lsoa_code, is_pseudonym};
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::HashMap;

/// How a column's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// Free text that people type (location description): checked for raw
    /// identifiers such as postcodes and NHS numbers.
    FreeText,
    /// A keyed pseudonym: 64 lowercase hex digits.
    Pseudonym,
    Lsoa,
    Date,
    DateTime,
    Int {
        min: i64,
        max: i64,
    },
    Decimal,
    /// A longitude or latitude in degrees (signed).
    Coordinate,
    Flag,
    Sex,
    OneOf(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Required columns must be present in the header and non-blank in every row.
    pub required: bool,
    pub ty: FieldType,
}

pub const fn req(name: &'static str, ty: FieldType) -> Column {
    Column { name, required: true, ty }
}
pub const fn opt(name: &'static str, ty: FieldType) -> Column {
    Column { name, required: false, ty }
}

/// A problem with one field (or the header) of one row. The reader adds the
/// file and line; this names the column and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// 1-based column position in the file, 0 when the column is absent.
    pub column: usize,
    pub column_name: String,
    pub reason: String,
    /// The value (or column) looks like a raw identifier. Such a file is
    /// refused whole, before anything from it reaches Kafka.
    pub raw_identifier: bool,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {} ({}): {}", self.column, self.column_name, self.reason)
    }
}

/// The kinds of extract partners drop, named by the start of the file name
/// (`offences_2024-04-30.csv`). One kind per file keeps each file's columns
/// fixed, so a header check catches a wrong file before any row is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtractKind {
    PoliceOffences,
    PoliceAsb,
    AeAttendances,
    YjOutcomes,
    SchoolCensus,
    Suspensions,
    Exclusions,
    ApPlacements,
    Neet,
    AceScreenings,
    SurveyResponses,
    Commitments,
    /// data.police.uk street-level crime; chosen by `--format police-uk`,
    /// not by file name.
    StreetCrimes,
}

impl ExtractKind {
    pub const ALL: &'static [ExtractKind] = &[
        ExtractKind::PoliceOffences,
        ExtractKind::PoliceAsb,
        ExtractKind::AeAttendances,
        ExtractKind::YjOutcomes,
        ExtractKind::SchoolCensus,
        ExtractKind::Suspensions,
        ExtractKind::Exclusions,
        ExtractKind::ApPlacements,
        ExtractKind::Neet,
        ExtractKind::AceScreenings,
        ExtractKind::SurveyResponses,
        ExtractKind::Commitments,
        ExtractKind::StreetCrimes,
    ];

    pub fn prefix(&self) -> &'static str {
        match self {
            ExtractKind::PoliceOffences => "offences",
            ExtractKind::PoliceAsb => "asb",
            ExtractKind::AeAttendances => "attendances",
            ExtractKind::YjOutcomes => "outcomes",
            ExtractKind::SchoolCensus => "census",
            ExtractKind::Suspensions => "suspensions",
            ExtractKind::Exclusions => "exclusions",
            ExtractKind::ApPlacements => "ap_placements",
            ExtractKind::Neet => "neet",
            ExtractKind::AceScreenings => "screenings",
            ExtractKind::SurveyResponses => "responses",
            ExtractKind::Commitments => "commitments",
            ExtractKind::StreetCrimes => "street",
        }
    }

    pub fn source(&self) -> Source {
        self.kind().table().source()
    }

    pub fn kind(&self) -> Kind {
        match self {
            ExtractKind::PoliceOffences => Kind::Offence,
            ExtractKind::PoliceAsb => Kind::AsbIncident,
            ExtractKind::AeAttendances => Kind::AeAttendance,
            ExtractKind::YjOutcomes => Kind::YjOutcome,
            ExtractKind::SchoolCensus => Kind::SchoolCensus,
            ExtractKind::Suspensions => Kind::Suspension,
            ExtractKind::Exclusions => Kind::PermanentExclusion,
            ExtractKind::ApPlacements => Kind::ApPlacement,
            ExtractKind::Neet => Kind::NeetStatus,
            ExtractKind::AceScreenings => Kind::AceScreening,
            ExtractKind::SurveyResponses => Kind::SurveyResponse,
            ExtractKind::Commitments => Kind::CommitmentStatus,
            ExtractKind::StreetCrimes => Kind::StreetCrime,
        }
    }

    pub fn columns(&self) -> &'static [Column] {
        crate::sources::columns(*self)
    }

    /// Picks the kind from the file name within the partner's source. A
    /// source with one kind of extract takes any name (data.police.uk
    /// downloads are named `2022-03-cleveland-street.csv`).
    pub fn from_file_name(source: Source, file_name: &str) -> Result<Self, String> {
        let lower = file_name.to_ascii_lowercase();
        let kinds: Vec<_> = Self::ALL.iter().filter(|k| k.source() == source).collect();
        if let [only] = kinds.as_slice() {
            return Ok(**only);
        }
        kinds
            .iter()
            .find(|k| lower.starts_with(k.prefix()) && lower[k.prefix().len()..].starts_with(['_', '-', '.']))
            .map(|k| **k)
            .ok_or_else(|| {
                let names: Vec<_> = kinds.iter().map(|k| format!("{}_*.csv", k.prefix())).collect();
                format!("a {source} partner's file name must start with one of: {}", names.join(", "))
            })
    }
}

/// The header of an extract, checked against the kind's columns.
#[derive(Debug, Clone)]
pub struct Header {
    index: HashMap<&'static str, usize>,
    pub width: usize,
}

impl Header {
    /// Missing required columns, unknown columns and duplicates are file-level
    /// errors: an unknown column is how a raw identifier would slip in.
    pub fn check(kind: ExtractKind, names: &[&str]) -> Result<Header, Vec<FieldError>> {
        let cols = kind.columns();
        let mut index = HashMap::new();
        let mut errors = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            // `Crime ID` and `crime_id` are the same column.
            let name = raw.trim().trim_start_matches('\u{feff}').to_ascii_lowercase().replace(' ', "_");
            let err = |reason: String| FieldError { column: i + 1, column_name: name.clone(), reason, raw_identifier: false };
            if let Some(hint) = identifiers::raw_identifier_column(&name) {
                errors.push(FieldError { raw_identifier: true, ..err(format!(
                    "column looks like a raw identifier ({hint}); raw identifiers must never be sent: pseudonymise with `vru pseudonymise` and drop the column"
                )) });
                continue;
            }
            match cols.iter().find(|c| c.name == name) {
                None => errors.push(err(format!("unknown column for a {} extract", kind.prefix()))),
                Some(c) if index.contains_key(c.name) => errors.push(err("column appears twice".into())),
                Some(c) => {
                    index.insert(c.name, i);
                }
            }
        }
        for c in cols.iter().filter(|c| c.required && !index.contains_key(c.name)) {
            errors.push(FieldError {
                column: 0,
                column_name: c.name.into(),
                reason: "required column is missing".into(),
                raw_identifier: false,
            });
        }
        if errors.is_empty() { Ok(Header { index, width: names.len() }) } else { Err(errors) }
    }
}

/// One row of fields, read through its header. Fields are `&str` because the
/// reader has already checked UTF-8 and can point at the bad column itself.
pub struct Row<'a> {
    pub header: &'a Header,
    pub fields: &'a [&'a str],
    /// Line in the file where the record starts (1 is the header).
    pub line: u64,
    /// Dates after this are refused as being in the future.
    pub today: NaiveDate,
    pub kind: ExtractKind,
}

fn column_of(kind: ExtractKind, name: &str) -> Column {
    *kind.columns().iter().find(|c| c.name == name).unwrap_or_else(|| panic!("column {name} not declared for {kind:?}"))
}

impl<'a> Row<'a> {
    /// Whether this extract kind has the column at all.
    pub fn declared(&self, name: &str) -> bool {
        self.kind.columns().iter().any(|c| c.name == name)
    }

    /// An error about `name` in this row, for rules the typed getters cannot
    /// express (such as a date that must follow another).
    pub fn error(&self, name: &str, reason: impl Into<String>) -> FieldError {
        self.err(name, reason)
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> FieldError {
        let column = self.header.index.get(name).map_or(0, |i| i + 1);
        FieldError { column, column_name: name.into(), reason: reason.into(), raw_identifier: false }
    }

    /// The trimmed text of a column, `None` when blank or absent. Checks the
    /// declared type, so sources cannot forget to validate a column.
    pub fn raw(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        let col = column_of(self.kind, name);
        let value = self.header.index.get(col.name).and_then(|i| self.fields.get(*i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        match value {
            None if col.required => Err(self.err(name, "required value is blank")),
            None => Ok(None),
            Some(v) => self.check_type(col, v).map(|_| Some(v)),
        }
    }

    fn check_type(&self, col: Column, v: &str) -> Result<(), FieldError> {
        let bad = |reason: String| Err(self.err(col.name, reason));
        match col.ty {
            FieldType::Pseudonym if !is_pseudonym(v) => {
                let raw = identifiers::describe(v);
                let what = raw.unwrap_or("not a pseudonym (64 lowercase hex digits)");
                let e = self.err(col.name, format!("{what}; identifiers must be pseudonymised before sending: run `vru pseudonymise`"));
                Err(FieldError { raw_identifier: raw.is_some(), ..e })
            }
            FieldType::Lsoa if !is_lsoa_code(v) => bad(format!("`{}` is not an LSOA code like E01012345", shown(v))),
            FieldType::FreeText => match identifiers::describe(v) {
                Some(what) => {
                    let e = self.err(col.name, format!("free text contains what {what}; remove it before sending"));
                    Err(FieldError { raw_identifier: true, ..e })
                }
                None if v.chars().count() > 1000 => bad("free text longer than 1000 characters".into()),
                None => Ok(()),
            },
            FieldType::OneOf(allowed) if !allowed.contains(&v.to_ascii_lowercase().as_str()) => {
                bad(format!("`{}` is not one of: {}", shown(v), allowed.join(", ")))
            }
            FieldType::Text if v.chars().count() > 200 => {
                bad(format!("value is {} characters long; at most 200 allowed", v.chars().count()))
            }
            _ => Ok(()),
        }
    }

    pub fn text(&self, name: &str) -> Result<Option<String>, FieldError> {
        Ok(self.raw(name)?.map(str::to_string))
    }

    pub fn req_text(&self, name: &str) -> Result<String, FieldError> {
        self.text(name)?.ok_or_else(|| self.err(name, "required value is blank"))
    }

    /// Enumerated values are stored lower-case, whatever case partners use.
    pub fn code(&self, name: &str) -> Result<Option<String>, FieldError> {
        Ok(self.raw(name)?.map(str::to_ascii_lowercase))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, FieldError> {
        let FieldType::Int { min, max } = column_of(self.kind, name).ty else { panic!("{name} is not an Int column") };
        let Some(v) = self.raw(name)? else { return Ok(None) };
        let n: i64 = v.parse().map_err(|_| self.err(name, format!("`{}` is not a whole number", shown(v))))?;
        if n < min || n > max {
            return Err(self.err(name, format!("{n} is out of range {min}-{max}")));
        }
        Ok(Some(n))
    }

    pub fn coordinate(&self, name: &str) -> Result<Option<f64>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() && (-180.0..=180.0).contains(&n) => Ok(Some(n)),
            _ => Err(self.err(name, format!("`{}` is not a coordinate in degrees", shown(v)))),
        }
    }

    pub fn decimal(&self, name: &str) -> Result<Option<f64>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(self.err(name, format!("`{}` is not a non-negative number", shown(v)))),
        }
    }

    /// Blank flags read as "no": partners' systems leave unset flags empty.
    pub fn flag(&self, name: &str) -> Result<bool, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(false) };
        match v.to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" | "1" => Ok(true),
            "n" | "no" | "false" | "0" => Ok(false),
            _ => Err(self.err(name, format!("`{}` is not a flag (Y/N, true/false, 1/0)", shown(v)))),
        }
    }

    /// Accepts the sexes partners' systems write, including NHS codes.
    pub fn sex(&self, name: &str) -> Result<Option<Sex>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        match v.to_ascii_lowercase().as_str() {
            "m" | "male" | "1" => Ok(Some(Sex::Male)),
            "f" | "female" | "2" => Ok(Some(Sex::Female)),
            "u" | "unknown" | "not known" | "not stated" | "9" | "0" => Ok(Some(Sex::Unknown)),
            _ => Err(self.err(name, format!("`{}` is not a sex (M, F, U)", shown(v)))),
        }
    }

    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        let d = parse_date(v).ok_or_else(|| self.err(name, format!("`{}` is not a date (YYYY-MM-DD or DD/MM/YYYY)", shown(v))))?;
        self.check_date(name, d).map(Some)
    }

    pub fn datetime(&self, name: &str) -> Result<Option<NaiveDateTime>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        let dt =
            parse_datetime(v).ok_or_else(|| self.err(name, format!("`{}` is not a date and time (YYYY-MM-DD HH:MM[:SS])", shown(v))))?;
        self.check_date(name, dt.date()).map(|_| Some(dt))
    }

    /// Refuses dates in the future or before 1900.
    pub fn check_date(&self, name: &str, d: NaiveDate) -> Result<NaiveDate, FieldError> {
        if d > self.today {
            return Err(self.err(name, format!("{d} is in the future")));
        }
        if d < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid") {
            return Err(self.err(name, format!("{d} is before 1900")));
        }
        Ok(d)
    }
}

/// Values are echoed in errors so partners can find them, but cut short so a
/// receipt never carries a long free-text field.
fn shown(v: &str) -> String {
    if v.chars().count() <= 40 { v.to_string() } else { format!("{}...", v.chars().take(40).collect::<String>()) }
}

pub fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y")).ok()
}

pub fn parse_datetime(v: &str) -> Option<NaiveDateTime> {
    const FORMATS: &[&str] =
        &["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"];
    FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: ExtractKind) -> Header {
        let names: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
        Header::check(kind, &names).unwrap()
    }

    #[test]
    fn header_errors_name_the_column() {
        let errs = Header::check(ExtractKind::PoliceAsb, &["record_id", "incident_at", "bogus", "record_id"]).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("column 3 (bogus): unknown column")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("column 4 (record_id): column appears twice")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("(lsoa): required column is missing")), "{text:?}");
        let errs = Header::check(ExtractKind::PoliceAsb, &["NHS_Number"]).unwrap_err();
        assert!(errs[0].reason.contains("vru pseudonymise"), "{errs:?}");
        // BOM and case are tolerated.
        let mut names: Vec<String> = ExtractKind::PoliceAsb.columns().iter().map(|c| c.name.to_uppercase()).collect();
        names[0] = format!("\u{feff}{}", names[0]);
        assert!(Header::check(ExtractKind::PoliceAsb, &names.iter().map(String::as_str).collect::<Vec<_>>()).is_ok());
    }

    #[test]
    fn typed_getters() {
        let kind = ExtractKind::PoliceOffences;
        let h = header(kind);
        let mut fields = vec![""; h.width];
        let idx = |n: &str| kind.columns().iter().position(|c| c.name == n).unwrap();
        fields[idx("age")] = "200";
        fields[idx("committed_at")] = "2023-02-30 10:00";
        fields[idx("recorded_date")] = "31/03/2024";
        fields[idx("knife_flag")] = "Y";
        fields[idx("person_id")] = "943 476 5919";
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let row = Row { header: &h, fields: &fields, line: 2, today, kind };
        let e = row.int("age").unwrap_err();
        assert_eq!((e.column, e.reason.as_str()), (idx("age") + 1, "200 out of range 0-120".replace("200 out", "200 is out").as_str()));
        assert!(row.datetime("committed_at").unwrap_err().reason.contains("not a date and time"));
        assert_eq!(row.date("recorded_date").unwrap(), NaiveDate::from_ymd_opt(2024, 3, 31));
        assert!(row.flag("knife_flag").unwrap());
        assert!(!row.flag("firearm_flag").unwrap());
        assert!(row.raw("person_id").unwrap_err().reason.contains("NHS number"));
        let row = Row { header: &h, fields: &fields, line: 2, today: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(), kind };
        assert!(row.date("recorded_date").unwrap_err().reason.contains("in the future"));
    }

    #[test]
    fn kind_from_file_name() {
        assert_eq!(ExtractKind::from_file_name(Source::Police, "offences_2024.csv"), Ok(ExtractKind::PoliceOffences));
        assert_eq!(ExtractKind::from_file_name(Source::Police, "ASB-2024.csv"), Ok(ExtractKind::PoliceAsb));
        assert!(ExtractKind::from_file_name(Source::Police, "attendances_2024.csv").unwrap_err().contains("offences_*.csv"));
        assert!(ExtractKind::from_file_name(Source::Police, "offencesX.csv").is_err());
        assert_eq!(ExtractKind::from_file_name(Source::PoliceUk, "2022-03-cleveland-street.csv"), Ok(ExtractKind::StreetCrimes));
    }
}
