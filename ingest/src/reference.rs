//! Loads reference tables from CSV into the lake, replacing the previous
//! contents in a new table version (the old one stays readable by time
//! travel until retention removes it).
//!
//! Real reference files have quirks: extra columns, mixed case headers,
//! counts written as `2e3`, population in wide format (one column per age).
//! Rows that cannot be read are skipped and counted, never silently lost.

pub use crate::error::ReferenceError;
use crate::lake::{Lake, LakeError};
use deltalake::arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use deltalake::arrow::datatypes::DataType;
use deltalake::protocol::SaveMode;
use std::path::Path;
use std::sync::Arc;
use vru_model::tables::Reference;

/// How the population file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopulationFormat {
    /// `lsoa_code,year,age,population`
    Long,
    /// ONS wide: an LSOA code column, then one column per age `0`..`90+`,
    /// for one mid-year given separately.
    OnsWide { year: i32 },
}

#[derive(Debug, Default, serde::Serialize)]
pub struct LoadReport {
    pub table: String,
    pub rows: u64,
    pub skipped: u64,
    /// The first few skipped rows, `line: reason`.
    pub skipped_examples: Vec<String>,
    pub version: Option<u64>,
}

/// Parses a count, accepting the scientific notation spreadsheets produce
/// (`2e3`) when it denotes a whole number.
pub fn parse_count(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>()
        .ok()
        .or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
}

struct Columns {
    builders: Vec<Builder>,
}

enum Builder {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
}

impl Columns {
    fn new(r: Reference) -> Self {
        let builders = r
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int32 => Builder::I32(Int32Builder::new()),
                DataType::Int64 => Builder::I64(Int64Builder::new()),
                _ => Builder::Str(StringBuilder::new()),
            })
            .collect();
        Columns { builders }
    }

    /// Appends one row of text values; on a bad value nothing is appended.
    fn push(&mut self, r: Reference, values: &[Option<&str>]) -> Result<(), String> {
        let schema = r.schema();
        let mut parsed: Vec<Option<i64>> = Vec::with_capacity(values.len());
        for (f, v) in schema.fields().iter().zip(values) {
            let v = v.map(str::trim).filter(|v| !v.is_empty());
            match (f.data_type(), v) {
                (_, None) if !f.is_nullable() => return Err(format!("{} is blank", f.name())),
                (DataType::Int32 | DataType::Int64, Some(s)) => {
                    let n = parse_count(s).ok_or_else(|| format!("{} `{s}` is not a whole number", f.name()))?;
                    if matches!(f.data_type(), DataType::Int32) && i32::try_from(n).is_err() {
                        return Err(format!("{} `{s}` is out of range", f.name()));
                    }
                    parsed.push(Some(n));
                }
                _ => parsed.push(None),
            }
        }
        for ((b, v), n) in self.builders.iter_mut().zip(values).zip(parsed) {
            let v = v.map(str::trim).filter(|v| !v.is_empty());
            match b {
                Builder::Str(b) => b.append_option(v),
                Builder::I32(b) => b.append_option(n.map(|n| n as i32)),
                Builder::I64(b) => b.append_option(n),
            }
        }
        Ok(())
    }

    fn finish(self, r: Reference) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(mut b) => Arc::new(b.finish()),
                    Builder::I32(mut b) => Arc::new(b.finish()),
                    Builder::I64(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(r.schema(), arrays).expect("builders follow the schema")
    }
}

/// Reads a reference CSV. Columns are found by name, case-insensitively;
/// other columns are ignored. `aliases` maps our column names to others
/// that published files use.
pub fn read_csv(r: Reference, path: &Path, format: PopulationFormat) -> Result<(RecordBatch, LoadReport), ReferenceError> {
    let file = path.display().to_string();
    let ferr = |reason: String| ReferenceError::File { file: file.clone(), reason };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| ferr(e.to_string()))?;
    let headers: Vec<String> = rdr.headers().map_err(|e| ferr(e.to_string()))?.iter().map(vru_model::extract::normalise_header).collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let mut cols = Columns::new(r);
    let mut report = LoadReport { table: r.name().into(), ..Default::default() };
    let skip = |report: &mut LoadReport, line: u64, why: String| {
        report.skipped += 1;
        if report.skipped_examples.len() < 10 {
            report.skipped_examples.push(format!("line {line}: {why}"));
        }
    };
    let code_col = find(&["lsoa_code", "lsoa11cd", "lsoa_code_2011", "lsoa21cd"])
        .ok_or_else(|| ferr("no LSOA code column (lsoa_code or lsoa11cd)".into()))?;
    let wide_ages: Vec<(usize, i32)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.trim_end_matches('+').parse::<i32>().ok().filter(|a| (0..=120).contains(a)).map(|a| (i, a)))
        .collect();
    let named: Vec<Option<usize>> = match r {
        Reference::LsoaLookup => vec![
            Some(code_col),
            find(&["lsoa_name", "lsoa11nm"]),
            find(&["ward_code", "wd11cd", "wd21cd"]),
            find(&["ward_name", "wd11nm", "wd21nm"]),
            Some(
                find(&["la_code", "lad11cd", "lad21cd", "lad16cd"])
                    .ok_or_else(|| ferr("no local authority code column (la_code)".into()))?,
            ),
            find(&["la_name", "lad11nm", "lad21nm", "lad16nm"]),
        ],
        Reference::Imd => vec![
            Some(code_col),
            Some(find(&["imd_rank"]).ok_or_else(|| ferr("no imd_rank column".into()))?),
            Some(find(&["imd_decile"]).ok_or_else(|| ferr("no imd_decile column".into()))?),
        ],
        Reference::Population => match format {
            PopulationFormat::Long => vec![
                Some(code_col),
                Some(find(&["year"]).ok_or_else(|| ferr("no year column (or use the ONS wide format with a year)".into()))?),
                Some(find(&["age"]).ok_or_else(|| ferr("no age column".into()))?),
                Some(find(&["population", "count"]).ok_or_else(|| ferr("no population column".into()))?),
            ],
            PopulationFormat::OnsWide { .. } if wide_ages.is_empty() => {
                return Err(ferr("no age columns (0, 1, ... 90+) for the wide format".into()));
            }
            PopulationFormat::OnsWide { .. } => vec![],
        },
    };
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                skip(&mut report, line, e.to_string());
                continue;
            }
        };
        let code = rec.get(code_col).unwrap_or("").trim();
        if !vru_model::ids::is_lsoa_code(code) {
            skip(&mut report, line, format!("`{code}` is not an LSOA code"));
            continue;
        }
        if let (Reference::Population, PopulationFormat::OnsWide { year }) = (r, format) {
            let y = year.to_string();
            for (col, age) in &wide_ages {
                let a = age.to_string();
                match cols.push(r, &[Some(code), Some(&y), Some(&a), rec.get(*col)]) {
                    Ok(()) => report.rows += 1,
                    Err(why) => skip(&mut report, line, format!("age {age}: {why}")),
                }
            }
            continue;
        }
        let values: Vec<Option<&str>> = named.iter().map(|c| c.and_then(|c| rec.get(c))).collect();
        match cols.push(r, &values) {
            Ok(()) => report.rows += 1,
            Err(why) => skip(&mut report, line, why),
        }
    }
    Ok((cols.finish(r), report))
}

/// Replaces the table's contents with the file's, as a new table version.
pub async fn load(lake: &Lake, r: Reference, path: &Path, format: PopulationFormat) -> Result<LoadReport, ReferenceError> {
    let (batch, mut report) = read_csv(r, path, format)?;
    if batch.num_rows() == 0 {
        return Err(ReferenceError::File {
            file: path.display().to_string(),
            reason: format!("no usable rows ({} skipped)", report.skipped),
        });
    }
    let table = lake.open_or_create(r.name(), r.schema()).await?;
    let t = table
        .write(vec![batch])
        .with_save_mode(SaveMode::Overwrite)
        .await
        .map_err(|source| LakeError::Delta { table: r.name().into(), source: Box::new(source) })?;
    report.version = t.version();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_scientific_notation() {
        assert_eq!(parse_count("2e3"), Some(2000));
        assert_eq!(parse_count(" 15 "), Some(15));
        assert_eq!(parse_count("1.5"), None);
        assert_eq!(parse_count("x"), None);
    }

    #[test]
    fn wide_population_with_quirks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pop.csv");
        std::fs::write(&p, "lsoa11cd,lsoa11nm,lad16nm,total_pop,0,1,90+\nE01004768,Bolton 001A,Bolton,10,1,2e3,7\nBAD,x,y,1,1,1,1\n")
            .unwrap();
        let (batch, report) = read_csv(Reference::Population, &p, PopulationFormat::OnsWide { year: 2016 }).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!((report.rows, report.skipped), (3, 1));
        assert!(report.skipped_examples[0].contains("line 3"));
    }
}
