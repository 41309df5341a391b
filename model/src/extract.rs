//! What a partner extract looks like and how each field is read. Every
//! source describes its extract kinds as a list of [`Column`]s; the same
//! typed getters then parse any row, so every error names its column the
//! same way and every source rejects the same things for the same reasons.

use crate::envelope::Sex;
use crate::identifiers::profile::{ColumnRole, FileProfile};
use crate::identifiers::{self, Place, shown};
use crate::ids::{is_lsoa_code, is_small_area_code};
use crate::kinds::Source;
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::HashMap;

/// How a column's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// Free text that people type (location description): anything that
    /// looks like an identifier refuses the file.
    FreeText,
    /// The partner's record id: text that must not look like a formula.
    Id,
    /// A keyed pseudonym: 64 hex digits (stored lower-case). Anything else
    /// refuses the file: it is a person column.
    Pseudonym,
    /// Where an event happened: an English or Welsh LSOA (stored upper-case).
    Lsoa,
    /// Where a person lives: any UK small-area code (stored upper-case).
    SmallArea,
    Date,
    /// A date that may lie ahead (a commitment's due date).
    PlannedDate,
    DateTime,
    Int {
        min: i64,
        max: i64,
    },
    /// A non-negative number up to a documented maximum.
    Decimal {
        max: u32,
    },
    /// A longitude or latitude in degrees (signed).
    Coordinate,
    Flag,
    Sex,
    OneOf(&'static [&'static str]),
}

impl FieldType {
    /// How much evidence of an identifier a value of this type needs.
    pub fn place(&self) -> Place {
        match self {
            FieldType::Pseudonym => Place::Person,
            FieldType::FreeText => Place::FreeText,
            FieldType::Id => Place::Id,
            FieldType::Text => Place::Text,
            _ => Place::Typed,
        }
    }

    pub fn role(&self) -> ColumnRole {
        match self {
            FieldType::Date | FieldType::PlannedDate | FieldType::DateTime => ColumnRole::Date,
            FieldType::Id => ColumnRole::Id,
            _ => ColumnRole::Other,
        }
    }
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

pub use crate::kinds::ExtractKind;

impl ExtractKind {
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

impl Source {
    /// The source a partner sends, from its name as the landing folder
    /// spells it (`police-northshire`, `police_uk-public`): the longest
    /// source name that prefixes it. Partner names are also path components
    /// and event-id inputs, so only lower-case letters, digits, `-` and `_`
    /// are allowed. The receipts source is ours: no partner sends it.
    pub fn of_partner(partner: &str) -> Result<Source, String> {
        if partner.is_empty() || !partner.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(format!("partner name `{partner}` may only hold lower-case letters, digits, `-` and `_` (e.g. police-northshire)"));
        }
        let mut sources: Vec<Source> = Source::ALL.iter().copied().filter(|s| *s != Source::Receipts).collect();
        sources.sort_by_key(|s| std::cmp::Reverse(s.as_str().len()));
        sources.iter().copied().find(|s| partner.strip_prefix(s.as_str()).is_some_and(|rest| rest.starts_with(['-', '_']))).ok_or_else(
            || {
                sources.sort();
                let names: Vec<String> = sources.iter().map(|s| format!("{s}-")).collect();
                format!("partner folder `{partner}` must start with its source: {} (e.g. police-northshire)", names.join(", "))
            },
        )
    }
}

/// `Crime ID`, ` crime_id` and `\u{feff}CRIME_ID` are the same column.
pub fn normalise_header(raw: &str) -> String {
    raw.trim().trim_start_matches('\u{feff}').trim().to_ascii_lowercase().replace(' ', "_")
}

/// The header of an extract, checked against the kind's columns.
#[derive(Debug, Clone)]
pub struct Header {
    /// The declared column at each position of the file.
    pub columns: Vec<Option<Column>>,
    pub width: usize,
}

impl Header {
    /// Where the file has the column `name`, by a scan of at most a few
    /// dozen names: cheaper per field than hashing the name.
    fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.is_some_and(|c| c.name == name))
    }

    /// Missing required columns, unknown columns and duplicates are file-level
    /// errors: an unknown column is how a raw identifier would slip in.
    pub fn check(kind: ExtractKind, names: &[&str]) -> Result<Header, Vec<FieldError>> {
        let cols = kind.columns();
        let mut index = HashMap::new();
        let mut columns = Vec::with_capacity(names.len());
        let mut errors = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let name = normalise_header(raw);
            // A header cell is partner text too: never repeated as written
            // unless it is one of ours.
            let found = identifiers::scan(raw.trim(), Place::Typed).strong;
            let ours = cols.iter().any(|c| c.name == name);
            let shown_name = if ours || (name.len() <= 40 && found.is_none()) { name.clone() } else { shown(raw.trim()) };
            let err = |reason: String| FieldError { column: i + 1, column_name: shown_name.clone(), reason, raw_identifier: false };
            columns.push(cols.iter().find(|c| c.name == name).copied());
            if let Some(f) = found.filter(|_| !ours) {
                errors.push(FieldError {
                    raw_identifier: true,
                    ..err(format!("the header holds {} ({}); raw identifiers must never be sent", f.mask(), f.describe()))
                });
                continue;
            }
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
        if errors.is_empty() { Ok(Header { columns, width: names.len() }) } else { Err(errors) }
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
    /// The extract's date (from its file name, else its arrival): nothing
    /// in it can have happened later.
    pub extract_date: NaiveDate,
    pub kind: ExtractKind,
}

fn column_of(kind: ExtractKind, name: &str) -> Column {
    *kind.columns().iter().find(|c| c.name == name).unwrap_or_else(|| panic!("column {name} not declared for {kind:?}"))
}

/// Dates systems write for "unknown": a value, not a fact.
const PLACEHOLDER_DATES: &[(i32, u32, u32)] = &[(1899, 12, 30), (1899, 12, 31), (1900, 1, 1), (1901, 1, 1), (1970, 1, 1)];

/// Starts like a spreadsheet formula: a cell `=HYPERLINK(...)` in a file a
/// partner opens in Excel runs.
pub fn formula_like(v: &str) -> bool {
    v.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

impl<'a> Row<'a> {
    /// Whether this extract kind has the column at all.
    pub fn declared(&self, name: &str) -> bool {
        self.kind.columns().iter().any(|c| c.name == name)
    }

    /// Scans every field for raw identifiers before anything else reads the
    /// row, feeding the file's column profile; the first identifier found
    /// comes back as an error that refuses the file. Nothing in the error
    /// repeats the value.
    pub fn screen(&self, profile: &mut FileProfile) -> Result<(), FieldError> {
        let mut found = None;
        for (i, value) in self.fields.iter().enumerate() {
            let Some(col) = self.header.columns.get(i).copied().flatten() else { continue };
            let scan = identifiers::scan(value, col.ty.place());
            profile.observe(i, self.line, value, col.ty.role(), &scan);
            if let (None, Some(f)) = (&found, scan.strong) {
                let reason = format!(
                    "holds {} ({}): raw identifiers must never be sent; the file was refused whole. Pseudonymise with `vru pseudonymise` or remove it, then resend",
                    f.mask(),
                    f.describe()
                );
                found = Some(FieldError { column: i + 1, column_name: col.name.into(), reason, raw_identifier: true });
            }
        }
        found.map_or(Ok(()), Err)
    }

    /// An error about `name` in this row, for rules the typed getters cannot
    /// express (such as a date that must follow another).
    pub fn error(&self, name: &str, reason: impl Into<String>) -> FieldError {
        self.err(name, reason)
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> FieldError {
        let column = self.header.position(name).map_or(0, |i| i + 1);
        FieldError { column, column_name: name.into(), reason: reason.into(), raw_identifier: false }
    }

    /// The trimmed text of a column, `None` when blank or absent. Checks the
    /// declared type, so sources cannot forget to validate a column.
    pub fn raw(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        self.typed(name).map(|(_, v)| v)
    }

    /// The column's declared type and its checked value.
    fn typed(&self, name: &str) -> Result<(FieldType, Option<&'a str>), FieldError> {
        let (col, at) = match self.header.position(name) {
            Some(i) => (self.header.columns[i].expect("positioned columns are declared"), Some(i)),
            None => (column_of(self.kind, name), None),
        };
        let value = at.and_then(|i| self.fields.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        match value {
            None if col.required => Err(self.err(name, "required value is blank")),
            None => Ok((col.ty, None)),
            Some(v) => self.check_type(col, v).map(|_| (col.ty, Some(v))),
        }
    }

    fn check_type(&self, col: Column, v: &str) -> Result<(), FieldError> {
        let bad = |reason: String| Err(self.err(col.name, reason));
        let chars = || v.chars().count();
        match col.ty {
            FieldType::Pseudonym if !identifiers::is_pseudonym_any_case(v) => {
                let f = identifiers::scan(v, Place::Person).strong.unwrap_or(identifiers::Finding::NotAPseudonym);
                let e = self.err(
                    col.name,
                    format!(
                        "holds {} ({}) where a pseudonym (64 hex digits) must be: a person column must never carry anything else, so the file was refused whole. Run `vru pseudonymise` on it",
                        f.mask(),
                        f.describe()
                    ),
                );
                Err(FieldError { raw_identifier: true, ..e })
            }
            FieldType::Lsoa if !is_lsoa_code(&v.to_ascii_uppercase()) => {
                bad(format!("`{}` is not an English or Welsh LSOA code like E01012345", shown(v)))
            }
            FieldType::SmallArea if !is_small_area_code(&v.to_ascii_uppercase()) => {
                bad(format!("`{}` is not a small-area code (LSOA E01/W01, data zone S01/N20/N21)", shown(v)))
            }
            FieldType::FreeText if chars() > 1000 => bad("free text longer than 1000 characters".into()),
            FieldType::Id if formula_like(v) => bad(format!(
                "record id starts with `{}`: a spreadsheet would run it as a formula; ids must start with a letter or digit",
                v.chars().next().map(|c| c.escape_default().to_string()).unwrap_or_default()
            )),
            FieldType::Id | FieldType::Text if chars() > 200 => bad(format!("value is {} characters long; at most 200 allowed", chars())),
            FieldType::Text | FieldType::FreeText if v.starts_with(['=', '@']) => {
                bad(format!("value starts with `{}`: a spreadsheet would run it as a formula", &v[..1]))
            }
            FieldType::OneOf(allowed) if !allowed.contains(&v.to_ascii_lowercase().as_str()) => {
                bad(format!("`{}` is not one of: {}", shown(v), allowed.join(", ")))
            }
            _ => Ok(()),
        }
    }

    /// The text of a column, stored the way the lake keeps it: pseudonyms
    /// lower-case, area codes upper-case.
    pub fn text(&self, name: &str) -> Result<Option<String>, FieldError> {
        let (ty, value) = self.typed(name)?;
        Ok(value.map(|v| match ty {
            FieldType::Pseudonym => v.to_ascii_lowercase(),
            FieldType::Lsoa | FieldType::SmallArea => v.to_ascii_uppercase(),
            _ => v.to_string(),
        }))
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
            return Err(self.err(name, format!("{} is out of range {min}-{max}", shown(v))));
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
        let FieldType::Decimal { max } = column_of(self.kind, name).ty else { panic!("{name} is not a Decimal column") };
        let Some(v) = self.raw(name)? else { return Ok(None) };
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 && n <= f64::from(max) => Ok(Some(n)),
            Ok(n) if n.is_finite() && n > f64::from(max) => Err(self.err(name, format!("{} is over the maximum of {max}", shown(v)))),
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

    /// Accepts the sexes partners' systems write, including the NHS Data
    /// Dictionary's codes (1 male, 2 female, 9 indeterminate, 0 and X not
    /// known) and its letters.
    pub fn sex(&self, name: &str) -> Result<Option<Sex>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        match v.to_ascii_lowercase().as_str() {
            "m" | "male" | "1" => Ok(Some(Sex::Male)),
            "f" | "female" | "2" => Ok(Some(Sex::Female)),
            "u" | "unknown" | "not known" | "not stated" | "not specified" | "not recorded" | "9" | "0" | "x" | "i" | "indeterminate" => {
                Ok(Some(Sex::Unknown))
            }
            _ => Err(self.err(name, format!("`{}` is not a sex (M, F, U; or NHS codes 1, 2, 9, 0, X)", shown(v)))),
        }
    }

    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, FieldError> {
        let ty = column_of(self.kind, name).ty;
        let Some(v) = self.raw(name)? else { return Ok(None) };
        let d = parse_date(v).ok_or_else(|| self.err(name, format!("`{}` is not a date (YYYY-MM-DD or DD/MM/YYYY)", shown(v))))?;
        if ty == FieldType::PlannedDate {
            return self.check_plausible(name, d).map(Some);
        }
        self.check_date(name, d).map(Some)
    }

    pub fn datetime(&self, name: &str) -> Result<Option<NaiveDateTime>, FieldError> {
        let Some(v) = self.raw(name)? else { return Ok(None) };
        let dt =
            parse_datetime(v).ok_or_else(|| self.err(name, format!("`{}` is not a date and time (YYYY-MM-DD HH:MM[:SS])", shown(v))))?;
        self.check_date(name, dt.date()).map(|_| Some(dt))
    }

    /// Refuses dates in the future, after the extract was taken, before
    /// 1900, and the placeholders systems write for "unknown".
    pub fn check_date(&self, name: &str, d: NaiveDate) -> Result<NaiveDate, FieldError> {
        if d > self.today {
            return Err(self.err(name, format!("{d} is in the future")));
        }
        if d > self.extract_date {
            return Err(self.err(name, format!("{d} is after the extract's date ({}): it cannot have happened yet", self.extract_date)));
        }
        self.check_plausible(name, d)
    }

    fn check_plausible(&self, name: &str, d: NaiveDate) -> Result<NaiveDate, FieldError> {
        use chrono::Datelike;
        if PLACEHOLDER_DATES.contains(&(d.year(), d.month(), d.day())) {
            return Err(self.err(name, format!("{d} is a placeholder systems write for an unknown date: leave the field blank instead")));
        }
        if d < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid") {
            return Err(self.err(name, format!("{d} is before 1900")));
        }
        Ok(d)
    }
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
        // A header cell holding an identifier is refused and never repeated.
        let errs = Header::check(ExtractKind::PoliceAsb, &["record_id", "943 476 5919"]).unwrap_err();
        assert!(errs[0].raw_identifier && errs[0].column_name == "[NHS number]", "{errs:?}");
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
        let row = Row { header: &h, fields: &fields, line: 2, today, extract_date: today, kind };
        let e = row.int("age").unwrap_err();
        assert_eq!((e.column, e.reason.as_str()), (idx("age") + 1, "200 out of range 0-120".replace("200 out", "200 is out").as_str()));
        assert!(row.datetime("committed_at").unwrap_err().reason.contains("not a date and time"));
        assert_eq!(row.date("recorded_date").unwrap(), NaiveDate::from_ymd_opt(2024, 3, 31));
        assert!(row.flag("knife_flag").unwrap());
        assert!(!row.flag("firearm_flag").unwrap());
        assert!(row.raw("person_id").unwrap_err().reason.contains("NHS number"));
        let march = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let row = Row { header: &h, fields: &fields, line: 2, today: march, extract_date: march, kind };
        assert!(row.date("recorded_date").unwrap_err().reason.contains("in the future"));
        let row = Row { header: &h, fields: &fields, line: 2, today, extract_date: march, kind };
        assert!(row.date("recorded_date").unwrap_err().reason.contains("after the extract's date (2024-03-01)"));
    }

    #[test]
    fn screening_masks_and_refuses() {
        let kind = ExtractKind::PoliceOffences;
        let h = header(kind);
        let idx = |n: &str| kind.columns().iter().position(|c| c.name == n).unwrap();
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let mut profile = FileProfile::default();
        for (col, value, mask) in [
            ("offence_lsoa", "ls6 2qx", "[postcode]"),
            ("age", "9434765919", "[NHS number]"),
            ("person_id", "John Smith", "[not a pseudonym]"),
            ("record_id", "943.476.5919", "[NHS number]"),
            ("recorded_date", "DOB 01/02/2008", "[date of birth]"),
        ] {
            let mut fields = vec![""; h.width];
            fields[idx(col)] = value;
            let row = Row { header: &h, fields: &fields, line: 3, today, extract_date: today, kind };
            let e = row.screen(&mut profile).unwrap_err();
            assert!(e.raw_identifier && e.column == idx(col) + 1 && e.reason.contains(mask), "{col}: {e}");
            assert!(!e.reason.to_lowercase().contains(&value.to_lowercase()), "{e}");
        }
        // Upper-case hex pseudonyms pass and are stored lower-case; LSOAs upper-case.
        let mut fields = vec![""; h.width];
        let upper = "AB".repeat(32);
        fields[idx("person_id")] = &upper;
        fields[idx("offence_lsoa")] = "e01000001";
        let row = Row { header: &h, fields: &fields, line: 3, today, extract_date: today, kind };
        assert!(row.screen(&mut profile).is_ok());
        assert_eq!(row.text("person_id").unwrap(), Some("ab".repeat(32)));
        assert_eq!(row.text("offence_lsoa").unwrap().as_deref(), Some("E01000001"));
        // Formula-like ids, placeholder dates, NHS sex codes.
        fields[idx("record_id")] = "=HYPERLINK(\"x\")";
        fields[idx("recorded_date")] = "1900-01-01";
        fields[idx("sex")] = "X";
        let row = Row { header: &h, fields: &fields, line: 3, today, extract_date: today, kind };
        assert!(row.raw("record_id").unwrap_err().reason.contains("formula"));
        assert!(row.date("recorded_date").unwrap_err().reason.contains("placeholder"));
        assert_eq!(row.sex("sex").unwrap(), Some(Sex::Unknown));
    }

    #[test]
    fn a_partner_folder_names_its_source() {
        assert_eq!(Source::of_partner("police-northshire"), Ok(Source::Police));
        assert_eq!(Source::of_partner("police_uk-public"), Ok(Source::PoliceUk), "the longest source name wins");
        assert_eq!(Source::of_partner("ambulance-nwas"), Ok(Source::Ambulance));
        let err = Source::of_partner("receipts-x").unwrap_err();
        assert!(
            err.contains("must start with its source") && err.contains("ambulance-") && !err.contains("ambulance-, receipts-"),
            "{err}"
        );
        assert!(Source::of_partner("Police-North").unwrap_err().contains("lower-case"));
        assert!(Source::of_partner("police").is_err() && Source::of_partner("").is_err());
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
