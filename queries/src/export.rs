//! Results for other tools: CSV, newline-delimited JSON and Parquet,
//! written batch by batch as the query produces them, so a result larger
//! than memory still goes out (`vru sql --format`, `vru measures --format`).
//!
//! CSV is written for Excel as much as for programs: a text cell that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
//! to a spreadsheet ("CSV injection"), so it gets a leading `'`, which
//! Excel and LibreOffice show as text. Numbers are left alone: only text
//! columns are neutralised.

use crate::QueryError;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;

/// An output format of a query result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal (the whole result is held).
    Table,
    Csv,
    /// One JSON object per row, one row per line.
    Json,
    Parquet,
}

impl std::str::FromStr for Format {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" | "ndjson" | "jsonl" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            other => Err(QueryError::Invalid(format!("unknown format {other:?}: use table, csv, json or parquet"))),
        }
    }
}

impl Format {
    /// The file extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Csv => "csv",
            Format::Json => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// True when a spreadsheet would read the text as a formula.
pub fn formula_like(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The batch with every text column as plain strings and formula-like
/// cells neutralised.
fn excel_safe(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    if !batch.schema().fields().iter().any(|f| is_text(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_text(f.data_type()) {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
            continue;
        }
        let s = cast(c, &DataType::Utf8)?;
        let s = s.as_any().downcast_ref::<StringArray>().expect("cast to Utf8");
        let safe: StringArray = s.iter().map(|v| v.map(|v| if formula_like(v) { format!("'{v}") } else { v.to_string() })).collect();
        fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
        columns.push(Arc::new(safe));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// Writes a result stream in `format` and returns the rows written.
/// `Table` collects the result first (it aligns columns over all rows).
/// The output is flushed before returning, so a failed write (a full
/// disk) is an error, not a short file and a success.
pub async fn write<W: Write + Send>(mut stream: SendableRecordBatchStream, format: Format, out: W) -> Result<usize, QueryError> {
    let schema: SchemaRef = stream.schema();
    let mut rows = 0;
    let mut out = match format {
        Format::Table => {
            let mut batches = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                batches.push(b);
            }
            let mut out = out;
            writeln!(out, "{}", crate::format::table(&batches)).map_err(io)?;
            out
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out);
            let mut any = false;
            while let Some(b) = stream.next().await {
                let b = excel_safe(&b?)?;
                rows += b.num_rows();
                any = true;
                w.write(&b)?;
            }
            if !any {
                // A header even for an empty result.
                w.write(&RecordBatch::new_empty(schema))?;
            }
            w.into_inner()
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                w.write(&b)?;
            }
            w.finish()?;
            w.into_inner()
        }
        Format::Parquet => {
            let mut w = ArrowWriter::try_new(out, schema, None).map_err(parquet)?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                w.write(&b).map_err(parquet)?;
            }
            w.into_inner().map_err(parquet)?
        }
    };
    out.flush().map_err(io)?;
    Ok(rows)
}

fn io(e: std::io::Error) -> QueryError {
    QueryError::Invalid(format!("writing the result: {e}"))
}

fn parquet(e: datafusion::parquet::errors::ParquetError) -> QueryError {
    QueryError::Invalid(format!("writing Parquet: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn export(sql: &str, format: Format) -> (usize, Vec<u8>) {
        let ctx = SessionContext::new();
        let stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
        let mut out = Vec::new();
        let n = write(stream, format, &mut out).await.unwrap();
        (n, out)
    }

    #[tokio::test]
    async fn csv_neutralises_formulas_in_text_only() {
        let sql = "SELECT * FROM (VALUES ('=HYPERLINK(\"x\")', -5, '-3'), ('plain', 2, '@SUM(A1)'), ('+44', 3, 'a,b')) AS t(a, n, b)";
        let (n, out) = export(sql, Format::Csv).await;
        assert_eq!(n, 3);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a,n,b");
        assert_eq!(lines[1], "\"'=HYPERLINK(\"\"x\"\")\",-5,'-3");
        assert_eq!(lines[2], "plain,2,'@SUM(A1)");
        assert_eq!(lines[3], "'+44,3,\"a,b\"");
    }

    /// A writer that fails when flushed, as a full disk does.
    struct FullDisk(Vec<u8>);
    impl Write for FullDisk {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("no space left on device"))
        }
    }

    #[tokio::test]
    async fn a_failed_flush_is_an_error_in_every_format() {
        for format in [Format::Table, Format::Csv, Format::Json, Format::Parquet] {
            let ctx = SessionContext::new();
            let stream = ctx.sql("SELECT 1 AS one").await.unwrap().execute_stream().await.unwrap();
            let e = write(stream, format, FullDisk(Vec::new())).await.expect_err("a full disk fails the export");
            assert!(e.to_string().contains("no space left"), "{format:?}: {e}");
        }
    }

    #[tokio::test]
    async fn empty_csv_has_its_header() {
        let (n, out) = export("SELECT 1 AS one WHERE false", Format::Csv).await;
        assert_eq!((n, String::from_utf8(out).unwrap().trim()), (0, "one"));
    }

    #[tokio::test]
    async fn json_is_one_object_per_row() {
        let (n, out) = export("SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS t(n, s)", Format::Json).await;
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, 2);
        assert_eq!(text.lines().collect::<Vec<_>>(), vec![r#"{"n":1,"s":"a"}"#, r#"{"n":2}"#]);
    }

    #[tokio::test]
    async fn parquet_reads_back() {
        let (n, out) = export("SELECT * FROM generate_series(1, 100000) AS t(v)", Format::Parquet).await;
        assert_eq!(n, 100_000);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&out).unwrap();
        let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 100_000);
    }
}
