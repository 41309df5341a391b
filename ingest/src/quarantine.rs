//! The rejected-rows file partners are told to open, fix and resend. It is
//! opened in a spreadsheet, so no cell may start like a formula (`=`, `+`,
//! `-`, `@`, tab, carriage return: OWASP's CSV-injection list): such a
//! cell gets a leading `'`, which spreadsheets show as text. A rejected
//! value in a free-text or person column is masked like everything else we
//! write about it.

use csv::ByteRecord;
use std::fs::File;
use std::io;
use std::path::Path;
use vru_model::extract::FieldType;
use vru_model::identifiers::shown;

pub struct Quarantine {
    writer: csv::Writer<File>,
    /// The declared type of each column of the file.
    types: Vec<Option<FieldType>>,
}

/// A cell as it is safe to open in a spreadsheet.
pub fn neutralise(cell: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if cell.first().is_some_and(|b| b"=+-@\t\r".contains(b)) {
        let mut out = Vec::with_capacity(cell.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(cell);
        out.into()
    } else {
        cell.into()
    }
}

impl Quarantine {
    pub fn create(path: &Path, header: &ByteRecord, types: Vec<Option<FieldType>>) -> io::Result<Quarantine> {
        // Flexible: a rejected row may have any number of fields, and each
        // must stay a row of its own.
        let mut writer = csv::WriterBuilder::new().flexible(true).from_path(path)?;
        writer.write_record(header.iter().map(neutralise))?;
        Ok(Quarantine { writer, types })
    }

    /// Writes one rejected row; `column` (1-based, 0 for none) is the field
    /// that was refused.
    pub fn write(&mut self, record: &ByteRecord, column: usize) -> io::Result<()> {
        let row: Vec<Vec<u8>> = record
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let masked = i + 1 == column && matches!(self.types.get(i), Some(Some(FieldType::FreeText | FieldType::Pseudonym)));
                if masked { shown(&String::from_utf8_lossy(cell)).into_bytes() } else { neutralise(cell).into_owned() }
            })
            .collect();
        self.writer.write_record(&row)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_free_text_masked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.csv");
        let header = ByteRecord::from(vec!["record_id", "location_description"]);
        let mut q = Quarantine::create(&p, &header, vec![Some(FieldType::Id), Some(FieldType::FreeText)]).unwrap();
        q.write(&ByteRecord::from(vec!["=HYPERLINK(\"http://x\")", "fine"]), 1).unwrap();
        q.write(&ByteRecord::from(vec!["@SUM(A1)", &"long text ".repeat(120)]), 2).unwrap();
        q.write(&ByteRecord::from(vec!["-2+3", "\tx", "extra"]), 0).unwrap();
        q.flush().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "\"'=HYPERLINK(\"\"http://x\"\")\",fine");
        assert_eq!(lines[2], "'@SUM(A1),l…t (1199 characters)");
        assert_eq!(lines[3], "'-2+3,'\tx,extra");
    }
}
