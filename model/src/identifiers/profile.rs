//! What a whole file's columns say that no single value can: a column of
//! ids where most 10-digit values pass the NHS check digit (any one does by
//! chance one time in eleven; real NHS numbers always do), a date column
//! that only makes sense month-first, ids that went through a spreadsheet
//! as numbers (`1.20003E+11`). Each is a systematic fault: the file is
//! refused whole, because its other rows carry the same fault unseen.

use super::{Finding, Scan};

/// The column-level statistics of one file, fed a value at a time.
#[derive(Debug, Default, Clone)]
pub struct FileProfile {
    columns: Vec<ColumnStats>,
}

const WEAK_KINDS: [Finding; 3] = [Finding::NhsNumber, Finding::Upn, Finding::Phone];

#[derive(Debug, Default, Clone)]
struct ColumnStats {
    /// Per weak kind: values with its shape, values passing its check.
    shaped: [u64; 3],
    passing: [u64; 3],
    /// `a/b/yyyy` dates with a > 12 (only day-first reads them) and b > 12
    /// (only month-first does).
    day_first: u64,
    month_first: u64,
    first_month_first: u64,
    scientific: u64,
    first_scientific: u64,
}

/// What kind of column a value is in, for the file-level checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    Date,
    Id,
    Other,
}

/// A file-level finding about one column (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnVerdict {
    pub column: usize,
    /// First line showing the fault (0 when it is the column as a whole).
    pub line: u64,
    pub reason: String,
    /// The fault is a raw identifier (rather than a systematic format error).
    pub raw_identifier: bool,
}

/// `a/b/yyyy` (also `.` or `-`), time allowed after: the two leading parts,
/// and whether the date exists when read month-first.
fn day_month(value: &str) -> Option<(u32, u32, bool)> {
    let date = value.split([' ', 'T']).next()?;
    let mut parts = date.split(['/', '.', '-']);
    let (a, b, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || a.len() > 2 || b.len() > 2 {
        return None;
    }
    let (a, b, y): (u32, u32, i32) = (a.parse().ok()?, b.parse().ok()?, y.parse().ok()?);
    Some((a, b, chrono::NaiveDate::from_ymd_opt(y, a, b).is_some()))
}

/// `1.20003E+11`, `9E+09`: a number a spreadsheet re-wrote in scientific
/// notation, losing every digit after the fifteenth.
pub fn is_scientific(value: &str) -> bool {
    let v = value.trim();
    let Some((mantissa, exp)) = v.split_once(['e', 'E']) else { return false };
    let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    !int.is_empty()
        && int.len() <= 3
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !exp.is_empty()
        && exp.len() <= 3
        && exp.bytes().all(|b| b.is_ascii_digit())
}

impl FileProfile {
    pub fn observe(&mut self, column: usize, line: u64, value: &str, role: ColumnRole, scan: &Scan) {
        if self.columns.len() <= column {
            self.columns.resize(column + 1, ColumnStats::default());
        }
        let c = &mut self.columns[column];
        if let Some(shape) = scan.shape {
            let k = WEAK_KINDS.iter().position(|w| *w == shape).expect("weak kinds");
            c.shaped[k] += 1;
            c.passing[k] += u64::from(scan.weak == Some(shape));
        }
        match role {
            ColumnRole::Date => match day_month(value.trim()) {
                Some((a, b, _)) if a > 12 && b <= 12 => c.day_first += 1,
                // Evidence only when the date exists month-first (05/13,
                // not 02/30, which is wrong either way).
                Some((a, b, true)) if b > 12 && a <= 12 => {
                    if c.month_first == 0 {
                        c.first_month_first = line;
                    }
                    c.month_first += 1;
                }
                _ => {}
            },
            ColumnRole::Id if is_scientific(value) => {
                if c.scientific == 0 {
                    c.first_scientific = line;
                }
                c.scientific += 1;
            }
            _ => {}
        }
    }

    /// Every column-level fault found.
    pub fn verdicts(&self) -> Vec<ColumnVerdict> {
        let mut out = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            for (k, kind) in WEAK_KINDS.iter().enumerate() {
                // More than half of the values of this shape pass the check:
                // far above chance (1 in 11 for NHS numbers, 1 in 23 for UPNs).
                if c.passing[k] > 0 && c.passing[k] * 2 > c.shaped[k] {
                    out.push(ColumnVerdict {
                        column: i,
                        line: 0,
                        reason: format!(
                            "{} of {} values of this shape in this column look like {} {}: raw identifiers must never be sent; pseudonymise with `vru pseudonymise` or drop the column",
                            c.passing[k],
                            c.shaped[k],
                            kind.describe(),
                            kind.mask()
                        ),
                        raw_identifier: true,
                    });
                    break;
                }
            }
            if c.month_first > 0 && c.day_first == 0 {
                out.push(ColumnVerdict {
                    column: i,
                    line: c.first_month_first,
                    reason: format!(
                        "dates in this column are month-first (MM/DD/YYYY): {} only make sense that way and none day-first, so the others would be read with day and month swapped. The file was refused whole: export dates as YYYY-MM-DD or DD/MM/YYYY",
                        c.month_first
                    ),
                    raw_identifier: false,
                });
            }
            if c.scientific > 0 {
                out.push(ColumnVerdict {
                    column: i,
                    line: c.first_scientific,
                    reason: format!(
                        "ids in scientific notation (like 1.2E+11), {} of them: a spreadsheet turned them into numbers and lost digits, so different records may now share an id. The file was refused whole: format the column as text before saving",
                        c.scientific
                    ),
                    raw_identifier: false,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Place, scan};
    use super::*;

    fn feed(p: &mut FileProfile, col: usize, values: &[&str], role: ColumnRole, place: Place) {
        for (i, v) in values.iter().enumerate() {
            p.observe(col, i as u64 + 2, v, role, &scan(v, place));
        }
    }

    #[test]
    fn weak_identifiers_are_judged_by_column() {
        let mut p = FileProfile::default();
        // Sequential 10-digit ids: about one in eleven passes by chance.
        let seq: Vec<String> = (0..100u64).map(|i| format!("{}", 1_000_000_000 + i)).collect();
        feed(&mut p, 0, &seq.iter().map(String::as_str).collect::<Vec<_>>(), ColumnRole::Id, Place::Id);
        // One NHS number among codes of another shape.
        feed(&mut p, 1, &["CR-1", "CR-2", "9434765919", "CR-4"], ColumnRole::Id, Place::Id);
        let v = p.verdicts();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].column, 1);
        assert!(v[0].raw_identifier && v[0].reason.contains("1 of 1 values"), "{}", v[0].reason);
    }

    #[test]
    fn month_first_dates_and_scientific_ids() {
        let mut p = FileProfile::default();
        feed(&mut p, 0, &["01/02/2024", "05/13/2024", "03/04/2024", "02/30/2024"], ColumnRole::Date, Place::Typed);
        feed(&mut p, 3, &["02/30/2024", "02/31/2024"], ColumnRole::Date, Place::Typed);
        feed(&mut p, 1, &["13/02/2024", "05/11/2024"], ColumnRole::Date, Place::Typed);
        feed(&mut p, 2, &["1.20003E+11", "120003000001"], ColumnRole::Id, Place::Id);
        let v = p.verdicts();
        assert_eq!(v.iter().map(|v| (v.column, v.line)).collect::<Vec<_>>(), vec![(0, 3), (2, 2)]);
        assert!(is_scientific("9E+09") && is_scientific("1.2e11") && !is_scientific("E01012345") && !is_scientific("2e"));
    }
}
