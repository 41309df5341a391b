//! The retention policy: a versioned file like the definitions, read and
//! checked here so that a typo is an error naming the file and line when it
//! is loaded, never a table quietly kept forever.

pub use crate::error::PolicyError;
use crate::ids::is_pseudonym;
use crate::tables::Table;
use chrono::{Months, NaiveDate};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use toml::Spanned;

/// How long something is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Days(u32),
    Months(u32),
    Forever,
}

impl Period {
    /// `"30 days"`, `"18 months"`, `"6 years"`, `"1 year"`, `"forever"`.
    pub fn parse(s: &str) -> Result<Period, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "forever" {
            return Ok(Period::Forever);
        }
        let bad = || format!("`{s}` is not a period: write \"N days\", \"N months\", \"N years\" or \"forever\"");
        let (n, unit) = t.split_once(' ').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(format!("`{s}`: a period of zero would delete records as they arrive"));
        }
        match unit.trim() {
            "day" | "days" => Ok(Period::Days(n)),
            "month" | "months" => Ok(Period::Months(n)),
            "year" | "years" => n.checked_mul(12).map(Period::Months).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// The first day `from + self` is no longer kept; `None`: forever.
    pub fn after(&self, from: NaiveDate) -> Option<NaiveDate> {
        match self {
            Period::Days(n) => from.checked_add_days(chrono::Days::new(u64::from(*n))),
            Period::Months(n) => from.checked_add_months(Months::new(*n)),
            Period::Forever => None,
        }
    }

    /// The period in days at most (a month counted as 31), for comparing
    /// periods; `None`: forever.
    pub fn max_days(&self) -> Option<u64> {
        match self {
            Period::Days(n) => Some(u64::from(*n)),
            Period::Months(n) => Some(u64::from(*n) * 31),
            Period::Forever => None,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Days(1) => f.write_str("1 day"),
            Period::Days(n) => write!(f, "{n} days"),
            Period::Months(n) if n % 12 == 0 && *n == 12 => f.write_str("1 year"),
            Period::Months(n) if n % 12 == 0 => write!(f, "{} years", n / 12),
            Period::Months(n) => write!(f, "{n} months"),
            Period::Forever => f.write_str("forever"),
        }
    }
}

/// The date a record's period counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// When it happened (`occurred_at`).
    Event,
    /// When the partner recorded it (`recorded_at`; the event date when the
    /// extract gives none).
    Recorded,
    /// The person's last event in the `extended_by` tables, or the record's
    /// own event date if later: a later event about the same person extends
    /// the retention of all their records in the table.
    PersonLastEvent,
}

impl Basis {
    fn parse(s: &str) -> Result<Basis, String> {
        match s {
            "event" => Ok(Basis::Event),
            "recorded" => Ok(Basis::Recorded),
            "person_last_event" => Ok(Basis::PersonLastEvent),
            other => Err(format!("`from = \"{other}\"`: use event, recorded or person_last_event")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Basis::Event => "event",
            Basis::Recorded => "recorded",
            Basis::PersonLastEvent => "person_last_event",
        }
    }
}

/// One table's (or one partner's) rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub keep: Period,
    pub from: Basis,
    /// With [`Basis::PersonLastEvent`]: whose events extend it.
    pub extended_by: Vec<Table>,
    pub reason: String,
}

/// What a hold protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldTarget {
    /// Every record whose subject is this pseudonym.
    Person(String),
    /// One record (all its versions) of one partner.
    Record { partner: String, record_id: String },
}

/// Deletion suspended for a case under review, until a date.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub target: HoldTarget,
    /// Last day of the hold: the records may be deleted the day after.
    pub until: NaiveDate,
    pub reason: String,
    /// Where it is written, for messages.
    pub line: usize,
}

/// Files and messages around the lake.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesPolicy {
    pub processed: Period,
    pub rejected: Period,
    pub quarantine: Period,
    pub receipts: Period,
    pub dead_letters: Period,
    pub kafka_max: Period,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub version: String,
    /// SHA-256 of the file's text: which exact policy a run applied.
    pub sha256: String,
    pub grace_days: u32,
    pub tables: BTreeMap<Table, Rule>,
    /// (partner, table) -> the rule from that partner's agreement.
    pub overrides: BTreeMap<(String, Table), Rule>,
    pub holds: Vec<Hold>,
    pub files: FilesPolicy,
    by_person: HashMap<String, Vec<usize>>,
    by_record: HashMap<(String, String), Vec<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    version: String,
    grace_days: Spanned<u32>,
    #[serde(rename = "table")]
    tables: Vec<RawTable>,
    files: RawFiles,
    #[serde(default, rename = "override")]
    overrides: Vec<RawOverride>,
    #[serde(default, rename = "hold")]
    holds: Vec<RawHold>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Spanned<String>,
    keep: Spanned<String>,
    from: Option<Spanned<String>>,
    extended_by: Option<Spanned<Vec<String>>>,
    reason: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    processed: Spanned<String>,
    rejected: Spanned<String>,
    quarantine: Spanned<String>,
    receipts: Spanned<String>,
    dead_letters: Spanned<String>,
    kafka_max: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    partner: Spanned<String>,
    table: Spanned<String>,
    keep: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    extended_by: Option<Spanned<Vec<String>>>,
    reason: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHold {
    pseudonym: Option<Spanned<String>>,
    partner: Option<Spanned<String>>,
    record_id: Option<Spanned<String>>,
    until: Spanned<toml::value::Datetime>,
    reason: Spanned<String>,
}

/// Tables whose records name a person (`subject`): only these can count
/// from the person's last event or be held by pseudonym.
pub fn has_person(t: Table) -> bool {
    !matches!(t, Table::SurveyResponses | Table::Commitments | Table::PoliceUkCrimes | Table::ExtractReceipts)
}

/// A partner name as the landing folder spells it.
fn partner_name_ok(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text.get(..offset).map_or(1, |t| t.matches('\n').count() + 1)
    }
    fn err(&self, span: std::ops::Range<usize>, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid { file: self.file.to_string(), line: self.line(span.start), reason: reason.into() }
    }
    fn period(&self, s: &Spanned<String>) -> Result<Period, PolicyError> {
        Period::parse(s.get_ref()).map_err(|r| self.err(s.span(), r))
    }
    fn table(&self, s: &Spanned<String>) -> Result<Table, PolicyError> {
        Table::from_name(s.get_ref()).ok_or_else(|| {
            let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            self.err(s.span(), format!("no table named `{}` (tables: {})", s.get_ref(), names.join(", ")))
        })
    }
    fn reason(&self, s: &Spanned<String>) -> Result<String, PolicyError> {
        if s.get_ref().trim().is_empty() {
            return Err(self.err(s.span(), "give a reason: the management information shows it"));
        }
        Ok(s.get_ref().trim().to_string())
    }
    /// Checks `from` and `extended_by` together for `table`.
    fn basis(
        &self,
        table: Table,
        from: Option<&Spanned<String>>,
        extended_by: Option<&Spanned<Vec<String>>>,
        at: std::ops::Range<usize>,
        default: Basis,
    ) -> Result<(Basis, Vec<Table>), PolicyError> {
        let basis = match from {
            Some(f) => Basis::parse(f.get_ref()).map_err(|r| self.err(f.span(), r))?,
            None => default,
        };
        if basis == Basis::PersonLastEvent && !has_person(table) {
            return Err(self.err(
                from.map_or(at, |f| f.span()),
                format!("{} records name no person, so they cannot count from the person's last event", table.name()),
            ));
        }
        let extended = match (basis, extended_by) {
            (Basis::PersonLastEvent, None) => vec![table],
            (Basis::PersonLastEvent, Some(list)) => {
                let mut out = Vec::new();
                for name in list.get_ref() {
                    let t = Table::from_name(name)
                        .ok_or_else(|| self.err(list.span(), format!("extended_by names `{name}`, which is not a table")))?;
                    if !has_person(t) {
                        return Err(self.err(list.span(), format!("extended_by names {name}, whose records name no person")));
                    }
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                if out.is_empty() {
                    return Err(self.err(list.span(), "extended_by is empty: leave it out to mean this table"));
                }
                out
            }
            (_, Some(list)) => {
                return Err(self.err(list.span(), "extended_by only applies with from = \"person_last_event\""));
            }
            (_, None) => Vec::new(),
        };
        Ok((basis, extended))
    }
}

impl Policy {
    pub const BUILTIN: &'static [&'static str] = &["default"];

    pub fn builtin_text(name: &str) -> Result<&'static str, PolicyError> {
        match name {
            "default" => Ok(include_str!("../../retention/default.toml")),
            other => Err(PolicyError::Unknown(other.to_string())),
        }
    }

    pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
        Self::from_toml(Self::builtin_text(name)?, &format!("retention/{name}.toml"))
    }

    /// Parses and checks a policy; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Toml { file: file.to_string(), source: Box::new(e) })?;
        let cx = Ctx { file, text };
        if *raw.grace_days.get_ref() > 31 {
            return Err(cx.err(raw.grace_days.span(), "grace_days over 31 would call a month-late deletion on time"));
        }
        let mut tables = BTreeMap::new();
        for t in &raw.tables {
            let table = cx.table(&t.name)?;
            let keep = cx.period(&t.keep)?;
            if keep != Period::Forever && t.from.is_none() {
                return Err(cx.err(t.keep.span(), format!("{}: say which date the period counts from (from = ...)", table.name())));
            }
            let (from, extended_by) = cx.basis(table, t.from.as_ref(), t.extended_by.as_ref(), t.name.span(), Basis::Event)?;
            let rule = Rule { keep, from, extended_by, reason: cx.reason(&t.reason)? };
            if tables.insert(table, rule).is_some() {
                return Err(cx.err(t.name.span(), format!("table {} appears twice", table.name())));
            }
        }
        if let Some(missing) = Table::ALL.iter().find(|t| !tables.contains_key(t)) {
            return Err(PolicyError::Invalid {
                file: file.to_string(),
                line: text.lines().count().max(1),
                reason: format!(
                    "table {} has no [[table]] entry: every table needs a period (\"forever\" if it holds no personal data)",
                    missing.name()
                ),
            });
        }
        let f = &raw.files;
        let files = FilesPolicy {
            processed: cx.period(&f.processed)?,
            rejected: cx.period(&f.rejected)?,
            quarantine: cx.period(&f.quarantine)?,
            receipts: cx.period(&f.receipts)?,
            dead_letters: cx.period(&f.dead_letters)?,
            kafka_max: cx.period(&f.kafka_max)?,
        };
        let kafka_days = files.kafka_max.max_days();
        if kafka_days.is_none() {
            return Err(cx.err(f.kafka_max.span(), "kafka_max cannot be forever: a message in a topic cannot be erased alone"));
        }
        for (name, p) in
            [("processed", &f.processed), ("rejected", &f.rejected), ("quarantine", &f.quarantine), ("dead_letters", &f.dead_letters)]
        {
            if cx.period(p)? == Period::Forever {
                return Err(cx.err(p.span(), format!("{name} cannot be forever: these files hold rows as partners sent them")));
            }
        }
        if files.dead_letters.max_days() > kafka_days {
            return Err(cx.err(f.dead_letters.span(), "dead_letters is longer than kafka_max: the dead-letter topic is a topic"));
        }
        let mut overrides = BTreeMap::new();
        for o in &raw.overrides {
            if !partner_name_ok(o.partner.get_ref()) {
                return Err(cx.err(o.partner.span(), "a partner is named as its landing folder is (police-northshire)"));
            }
            let table = cx.table(&o.table)?;
            let base = &tables[&table];
            if o.keep.is_none() && o.from.is_none() {
                return Err(cx.err(o.partner.span(), "an override changes keep, from, or both"));
            }
            let keep = o.keep.as_ref().map(|k| cx.period(k)).transpose()?.unwrap_or(base.keep);
            let (from, extended_by) = match (&o.from, &o.extended_by) {
                (None, None) => (base.from, base.extended_by.clone()),
                _ => cx.basis(table, o.from.as_ref(), o.extended_by.as_ref(), o.table.span(), base.from)?,
            };
            let rule = Rule { keep, from, extended_by, reason: cx.reason(&o.reason)? };
            if overrides.insert((o.partner.get_ref().clone(), table), rule).is_some() {
                return Err(cx.err(o.partner.span(), format!("a second override for {} in {}", o.partner.get_ref(), table.name())));
            }
        }
        let mut holds = Vec::new();
        for h in &raw.holds {
            let line = cx.line(h.until.span().start);
            let target = match (&h.pseudonym, &h.partner, &h.record_id) {
                (Some(p), None, None) => {
                    if !is_pseudonym(p.get_ref()) {
                        return Err(cx.err(p.span(), "a pseudonym is 64 lower-case hex digits (what `vru pseudonymise` writes)"));
                    }
                    HoldTarget::Person(p.get_ref().clone())
                }
                (None, Some(partner), Some(id)) => {
                    if !partner_name_ok(partner.get_ref()) {
                        return Err(cx.err(partner.span(), "a partner is named as its landing folder is (police-northshire)"));
                    }
                    if id.get_ref().trim().is_empty() {
                        return Err(cx.err(id.span(), "record_id is empty"));
                    }
                    HoldTarget::Record { partner: partner.get_ref().clone(), record_id: id.get_ref().trim().to_string() }
                }
                _ => {
                    return Err(cx.err(h.until.span(), "a hold names either a pseudonym, or a partner and a record_id"));
                }
            };
            let until = h
                .until
                .get_ref()
                .date
                .filter(|_| h.until.get_ref().time.is_none())
                .and_then(|d| NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)))
                .ok_or_else(|| cx.err(h.until.span(), "until is a date: until = 2027-03-31"))?;
            holds.push(Hold { target, until, reason: cx.reason(&h.reason)?, line });
        }
        let mut p = Policy {
            name: raw.name,
            version: raw.version,
            sha256: sha256_hex(text),
            grace_days: *raw.grace_days.get_ref(),
            tables,
            overrides,
            holds,
            files,
            by_person: HashMap::new(),
            by_record: HashMap::new(),
        };
        for (i, h) in p.holds.iter().enumerate() {
            match &h.target {
                HoldTarget::Person(s) => p.by_person.entry(s.clone()).or_default().push(i),
                HoldTarget::Record { partner, record_id } => p.by_record.entry((partner.clone(), record_id.clone())).or_default().push(i),
            }
        }
        Ok(p)
    }

    /// The rule for one partner's records in `table`.
    pub fn rule(&self, table: Table, partner: &str) -> &Rule {
        // Lookup without allocating in the common case (no overrides).
        if !self.overrides.is_empty()
            && let Some(r) = self.overrides.get(&(partner.to_string(), table))
        {
            return r;
        }
        &self.tables[&table]
    }

    /// Tables whose events extend some table's records: the person dates
    /// the planner must gather first.
    pub fn extending_tables(&self) -> Vec<Table> {
        let mut out: Vec<Table> = Vec::new();
        for r in self.tables.values().chain(self.overrides.values()) {
            for t in &r.extended_by {
                if !out.contains(t) {
                    out.push(*t);
                }
            }
        }
        out.sort();
        out
    }

    /// Holds naming this record (by its subject or its id).
    pub fn holds_for<'a>(&'a self, partner: &str, record_id: &str, subject: Option<&str>) -> impl Iterator<Item = &'a Hold> + 'a {
        let by_person = subject.and_then(|s| self.by_person.get(s)).map(Vec::as_slice).unwrap_or_default();
        let by_record = if self.by_record.is_empty() {
            &[][..]
        } else {
            self.by_record.get(&(partner.to_string(), record_id.to_string())).map(Vec::as_slice).unwrap_or_default()
        };
        by_person.iter().chain(by_record).map(|i| &self.holds[*i])
    }

    /// The shortest period any table keeps personal data for, for the
    /// start-up check that no message outlives it.
    pub fn kafka_max_days(&self) -> u64 {
        self.files.kafka_max.max_days().expect("validated: not forever")
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods() {
        assert_eq!(Period::parse("6 years"), Ok(Period::Months(72)));
        assert_eq!(Period::parse("1 Year"), Ok(Period::Months(12)));
        assert_eq!(Period::parse("30 days"), Ok(Period::Days(30)));
        assert_eq!(Period::parse("forever"), Ok(Period::Forever));
        assert!(Period::parse("0 days").unwrap_err().contains("zero"));
        assert!(Period::parse("six years").is_err() && Period::parse("6").is_err() && Period::parse("6 weeks").is_err());
        // A record dated 29 February is due on 28 February six years on.
        assert_eq!(Period::Months(72).after(d("2020-02-29")), Some(d("2026-02-28")));
        assert_eq!(Period::Days(30).after(d("2026-01-15")), Some(d("2026-02-14")));
        assert_eq!(Period::Forever.after(d("2026-01-15")), None);
        assert_eq!(Period::Months(72).to_string(), "6 years");
        assert_eq!(Period::Months(18).to_string(), "18 months");
    }

    #[test]
    fn the_default_policy_loads_and_covers_every_table() {
        let p = Policy::builtin("default").unwrap();
        assert_eq!(p.tables.len(), Table::ALL.len());
        assert_eq!(p.rule(Table::PoliceOffences, "police-x").from, Basis::PersonLastEvent);
        assert_eq!(p.rule(Table::Commitments, "x").keep, Period::Forever);
        assert!(p.kafka_max_days() <= 31, "erasure within a month: no message may outlive it");
        assert_eq!(p.extending_tables(), vec![Table::PoliceOffences, Table::YjOutcomes, Table::EducationEvents, Table::AceScreenings]);
        assert_eq!(p.sha256.len(), 64);
    }

    fn with(extra: &str) -> String {
        format!("{}\n{extra}", Policy::builtin_text("default").unwrap())
    }

    fn err(text: &str) -> String {
        Policy::from_toml(text, "site.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let base = Policy::builtin_text("default").unwrap();
        let line_of = |needle: &str, text: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let bad = base.replace(
            "keep = \"6 years\"\nfrom = \"event\"\nreason = \"Six years of trend for H4",
            "keep = \"6 yeers\"\nfrom = \"event\"\nreason = \"Six years of trend for H4",
        );
        assert_eq!(
            err(&bad),
            format!(
                "site.toml:{}: `6 yeers` is not a period: write \"N days\", \"N months\", \"N years\" or \"forever\"",
                line_of("6 yeers", &bad)
            )
        );
        let bad = base.replace("name = \"police_asb\"", "name = \"police_abs\"");
        assert!(err(&bad).starts_with(&format!("site.toml:{}: no table named `police_abs`", line_of("police_abs", &bad))), "{}", err(&bad));
        let bad = base.replace(
            "name = \"survey_responses\"\nkeep = \"6 years\"\nfrom = \"event\"",
            "name = \"survey_responses\"\nkeep = \"6 years\"\nfrom = \"person_last_event\"",
        );
        assert!(err(&bad).contains("name no person"), "{}", err(&bad));
        let bad = base.replace("kafka_max = \"30 days\"", "kafka_max = \"forever\"");
        assert!(err(&bad).contains(&format!("site.toml:{}:", line_of("kafka_max = \"forever\"", &bad))));
        // TOML syntax errors and unknown keys say where, too.
        assert!(err(&with("[[hold]]\nuntil = 2027-01-01\nreasn = \"x\"\n")).contains("reasn"));
        assert!(err("name = \n").starts_with("site.toml: TOML parse error at line 1"), "{}", err("name = \n"));
        // A table left out.
        let bad = base.replace("name = \"police_uk_crimes\"", "name = \"commitments\"");
        assert!(err(&bad).contains("appears twice"));
    }

    #[test]
    fn overrides_and_holds() {
        let p = Policy::from_toml(
            &with(
                "[[override]]\npartner = \"ae-royal\"\ntable = \"ae_attendances\"\nkeep = \"3 years\"\nreason = \"ISA clause 9\"\n\n\
                 [[hold]]\npseudonym = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nuntil = 2027-03-31\nreason = \"SCR-12\"\n\n\
                 [[hold]]\npartner = \"police-n\"\nrecord_id = \"r9\"\nuntil = 2026-12-01\nreason = \"complaint\"\n",
            ),
            "site.toml",
        )
        .unwrap();
        assert_eq!(p.rule(Table::AeAttendances, "ae-royal").keep, Period::Months(36));
        assert_eq!(p.rule(Table::AeAttendances, "ae-other").keep, Period::Months(72));
        let person = "a".repeat(64);
        assert_eq!(p.holds_for("x", "y", Some(&person)).count(), 1);
        assert_eq!(p.holds_for("police-n", "r9", None).next().unwrap().until, d("2026-12-01"));
        assert_eq!(p.holds_for("police-n", "r8", Some("b")).count(), 0);
        assert!(err(&with("[[hold]]\npseudonym = \"AAAA\"\nuntil = 2027-01-01\nreason = \"x\"\n")).contains("64 lower-case hex"));
        assert!(err(&with("[[hold]]\npartner = \"p\"\nuntil = 2027-01-01\nreason = \"x\"\n")).contains("either a pseudonym"));
        assert!(err(&with("[[hold]]\npartner = \"p\"\nrecord_id = \"r\"\nuntil = 2027-01-01\nreason = \" \"\n")).contains("give a reason"));
        assert!(err(&with("[[override]]\npartner = \"p\"\ntable = \"ae_attendances\"\nreason = \"x\"\n")).contains("changes keep, from"));
    }
}
