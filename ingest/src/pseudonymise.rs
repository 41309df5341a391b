//! What a partner runs before dropping a file (`vru pseudonymise`): the
//! named id columns of a CSV replaced by keyed pseudonyms, everything else
//! (header, other columns, blank ids, quoting) passed through, streamed.
//! Errors name the file, line and column and never quote the identifier.

pub use crate::error::PseudonymiseError;
use std::io::{Read, Write};
use vru_model::extract::normalise_header;
use vru_model::pseudonym::Pseudonymiser;

/// Pseudonymises `id_columns` (matched as headers are: case, spaces and a
/// byte-order mark aside) from `input` into `out`; returns the rows written.
pub fn pseudonymise_csv(
    p: &Pseudonymiser,
    file: &str,
    input: impl Read,
    out: impl Write,
    id_columns: &[String],
) -> Result<u64, PseudonymiseError> {
    let at = |line: u64, reason: String| PseudonymiseError::At { file: file.to_string(), line, reason };
    let csv_err = |source| PseudonymiseError::Csv { file: file.to_string(), source };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = rdr.byte_headers().map_err(csv_err)?.clone();
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_string()).collect();
    let mut targets = Vec::new();
    for c in id_columns {
        match names.iter().position(|n| normalise_header(n) == normalise_header(c)) {
            Some(i) => targets.push(i),
            None => return Err(at(1, format!("no column named `{c}` (columns: {})", names.join(", ")))),
        }
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_byte_record(&header).map_err(csv_err)?;
    let mut rows = 0u64;
    for rec in rdr.byte_records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let mut fields: Vec<Vec<u8>> = rec.iter().map(<[u8]>::to_vec).collect();
        for &i in &targets {
            let Some(raw) = fields.get(i) else { return Err(at(line, format!("row has {} fields, fewer than the header", rec.len()))) };
            let text = std::str::from_utf8(raw).map_err(|_| at(line, format!("column {}: identifier is not valid UTF-8", i + 1)))?;
            if !text.trim().is_empty() {
                fields[i] = p.pseudonym(text).into_bytes();
            }
        }
        w.write_record(&fields).map_err(csv_err)?;
        rows += 1;
    }
    w.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Pseudonymiser {
        Pseudonymiser::from_key_text(&vru_model::pseudonym::key_text(&[7u8; 32])).unwrap()
    }

    #[test]
    fn id_columns_become_pseudonyms_and_the_rest_passes_through() {
        let input = "\u{feff}NHS Number,age,name_of_school\n9434765919,14,\"Hill, Top\"\n,15,Vale\n";
        let mut out = Vec::new();
        let rows = pseudonymise_csv(&key(), "a.csv", input.as_bytes(), &mut out, &["nhs_number".into()]).unwrap();
        assert_eq!(rows, 2);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NHS Number,age,name_of_school", "the header as written, less its byte-order mark");
        let pseudonym = key().pseudonym("9434765919");
        assert_eq!(lines[1], format!("{pseudonym},14,\"Hill, Top\""));
        assert_eq!(lines[2], ",15,Vale", "a blank id stays blank");
        assert!(!text.contains("9434765919"));
    }

    #[test]
    fn errors_name_the_place_and_not_the_identifier() {
        let e = pseudonymise_csv(&key(), "a.csv", "id,x\n1,2\n".as_bytes(), Vec::new(), &["nhs".into()]).unwrap_err();
        assert_eq!(e.to_string(), "a.csv:1: no column named `nhs` (columns: id, x)");
        let e = pseudonymise_csv(&key(), "a.csv", "x,id\n1,2\n3\n".as_bytes(), Vec::new(), &["id".into()]).unwrap_err();
        assert_eq!(e.to_string(), "a.csv:3: row has 1 fields, fewer than the header");
        let e = pseudonymise_csv(&key(), "a.csv", b"id\n\xff9434765919\n".as_slice(), Vec::new(), &["id".into()]).unwrap_err();
        assert!(e.to_string().starts_with("a.csv:2: column 1") && !e.to_string().contains("9434765919"), "{e}");
    }
}
