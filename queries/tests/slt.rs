//! Runs every `tests/slt/*.slt` file against a fresh session built by the
//! production `build_session`, with in-memory fixture tables the file fills.
//!
//! A file's options come from `# vru:` lines, e.g.
//! `# vru: focus=E08000001 definition=local cohort_years=3`.
//! To regenerate expected output after a deliberate change, run with
//! `VRU_SLT_UPDATE=1` and review the diff.

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use std::path::{Path, PathBuf};
use vru_model::classification::Definition;
use vru_queries::{LakeSource, Scratch, SessionOptions, build_session};

struct Db {
    ctx: SessionContext,
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

fn is_query(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "SELECT" | "WITH" | "VALUES" | "SHOW" | "EXPLAIN" | "(")
}

#[async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if !is_query(sql) {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for b in &batches {
            let fmts: Vec<ArrayFormatter<'_>> =
                b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<_, _>>()?;
            for r in 0..b.num_rows() {
                rows.push(
                    fmts.iter()
                        .map(|f| {
                            let s = f.value(r).to_string();
                            if s.is_empty() { "(empty)".to_string() } else { s }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types: schema.fields().iter().map(|f| column_type(f.data_type())).collect(), rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "vru-datafusion"
    }
}

fn options_for(file: &Path) -> SessionOptions {
    let text = std::fs::read_to_string(file).expect("readable slt");
    let mut focus = Vec::new();
    let mut definition = "local".to_string();
    let mut cohort_years = 3;
    let mut focus_name = "Focus area".to_string();
    let mut as_of = None;
    for line in text.lines().filter_map(|l| l.strip_prefix("# vru:")) {
        for kv in line.split_whitespace() {
            match kv.split_once('=') {
                Some(("focus", v)) => focus = v.split(',').map(str::to_string).collect(),
                Some(("definition", v)) => definition = v.to_string(),
                Some(("cohort_years", v)) => cohort_years = v.parse().expect("cohort_years"),
                Some(("focus_name", v)) => focus_name = v.replace('_', " "),
                Some(("as_of", v)) => as_of = Some(v.parse().expect("as_of is YYYY-MM-DD")),
                _ => panic!("{}: unknown option `{kv}` in `# vru:` line", file.display()),
            }
        }
    }
    let mut o = SessionOptions::new(LakeSource::Fixture, Definition::builtin(&definition).expect("definition"), focus);
    o.cohort_years = cohort_years;
    o.focus_name = focus_name;
    o.as_of = as_of;
    o.target_partitions = 2;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_match_hand_computed_values() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "slt")).collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let update = std::env::var_os("VRU_SLT_UPDATE").is_some();
    let mut failures = Vec::new();
    // Each file twice: in memory, and under a memory limit with a scratch
    // directory, where the current state has a plan of its own
    // (session.rs `current_state_sql`).
    let scratch = tempfile::tempdir().unwrap();
    let spilling = |mut o: SessionOptions| {
        o.scratch = Some(Scratch { dir: scratch.path().to_path_buf(), memory: 256 << 20 });
        o
    };
    let runs = files.iter().flat_map(|f| [(f, options_for(f), "in memory"), (f, spilling(options_for(f)), "spilling")]);
    for (file, opts, how) in runs {
        let mut runner = Runner::new(|| {
            let opts = opts.clone();
            async move { Ok(Db { ctx: build_session(&opts).await.map_err(|e| DataFusionError::External(Box::new(e)))?.ctx }) }
        });
        let result = if update {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner.run_file_async(file).await.map_err(|e| e.display(true).to_string())
        };
        if let Err(e) = result {
            failures.push(format!("{} ({how}):\n{e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} runs failed:\n{}", failures.len(), 2 * files.len(), failures.join("\n\n"));
}

/// A year the police data cover only in part is said to be partial, in
/// the report's manifest and on its page (the SQL is in `periods.slt`); a
/// full year says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_year_is_marked_in_the_report() {
    use vru_queries::disclosure::Policy;
    use vru_queries::report;
    let mut opts = SessionOptions::new(LakeSource::Fixture, Definition::builtin("local").unwrap(), vec!["E08000001".into()]);
    opts.as_of = Some("2024-09-02".parse().unwrap());
    let session = build_session(&opts).await.unwrap();
    let insert = "INSERT INTO police_offences_log (event_id, partner, record_id, record_version, crime_ref, offence_code, knife, firearm, domestic, occurred_at, event_lsoa, role) VALUES \
        ('slt-e1', 'p', 'r1', 1, 'c1', '5D', false, false, false, '2023-04-01T10:00:00', 'E01000001', 'victim'), \
        ('slt-e2', 'p', 'r2', 1, 'c2', '5D', false, false, false, '2024-09-02T10:00:00', 'E01000001', 'victim')";
    session.ctx.sql(insert).await.unwrap().collect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (year, partial) in [("2024/25", true), ("2023/24", false)] {
        let out = dir.path().join(year.replace('/', "-"));
        let m = report::write(&session, &opts, &year.parse().unwrap(), &Policy::Analyst.rules(), &out, chrono::Utc::now()).await.unwrap();
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        if partial {
            let note = m.partial.expect("a partial year");
            assert!(note.contains("cover 6 of its 12 months"), "{note}");
            assert!(page.contains("Partial year.") && page.contains("6 of its 12 months"));
        } else {
            assert_eq!(m.partial, None, "April 2023 to March 2024 is covered whole");
            assert!(!page.contains("Partial year."));
        }
    }
}
