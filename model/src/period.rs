//! Reporting periods. Partners and the annual review think in financial
//! years (1 April to 31 March, written `2023/24`); small counts such as
//! homicide are read over three years; monitoring uses rolling 12 months.

pub use crate::error::{PeriodError, YearError};
use chrono::{Datelike, Months, NaiveDate};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FinancialYear {
    /// The calendar year in which the financial year starts (2023 for 2023/24).
    pub start_year: i32,
}

impl FinancialYear {
    pub fn containing(date: NaiveDate) -> Self {
        let y = date.year();
        FinancialYear { start_year: if date.month() >= 4 { y } else { y - 1 } }
    }

    /// First day, inclusive.
    pub fn start(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start_year, 4, 1).expect("1 April exists")
    }

    /// Day after the last day: periods are half-open so that timestamps on
    /// 31 March at 23:59 fall inside without special cases.
    pub fn end_exclusive(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.start_year + 1, 4, 1).expect("1 April exists")
    }

    pub fn previous(&self) -> Self {
        FinancialYear { start_year: self.start_year - 1 }
    }

    /// The ONS mid-year estimate (30 June) that falls inside this year.
    pub fn mid_year(&self) -> i32 {
        self.start_year
    }
}

impl fmt::Display for FinancialYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:02}", self.start_year, (self.start_year + 1).rem_euclid(100))
    }
}

impl FromStr for FinancialYear {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodError(s.to_string());
        let (a, b) = s.trim().split_once('/').ok_or_else(err)?;
        let start_year: i32 = a.parse().map_err(|_| err())?;
        let end: i32 = b.parse().map_err(|_| err())?;
        let ok = a.len() == 4
            && (1900..=2200).contains(&start_year)
            && ((b.len() == 2 && end == (start_year + 1) % 100) || (b.len() == 4 && end == start_year + 1));
        ok.then_some(FinancialYear { start_year }).ok_or_else(err)
    }
}

/// A year a measure reports on: a financial year (`2023/24`) or a calendar
/// year (`2023`), as its label in the measures' `period` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Year {
    Financial(FinancialYear),
    Calendar(i32),
}

impl FromStr for Year {
    type Err = YearError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.contains('/') {
            return t.parse().map(Year::Financial).map_err(|_| YearError(s.to_string()));
        }
        match t.parse::<i32>() {
            Ok(y) if t.len() == 4 && (1990..2050).contains(&y) => Ok(Year::Calendar(y)),
            _ => Err(YearError(s.to_string())),
        }
    }
}

impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Year::Financial(fy) => fy.fmt(f),
            Year::Calendar(y) => write!(f, "{y}"),
        }
    }
}

/// A half-open date window `[start, end)` used for rolling periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveDate,
    pub end_exclusive: NaiveDate,
}

impl Window {
    /// The `months` months ending on `as_of` inclusive.
    pub fn ending(as_of: NaiveDate, months: u32) -> Self {
        let end_exclusive = as_of.succ_opt().expect("date in range");
        let start = end_exclusive.checked_sub_months(Months::new(months)).expect("date in range");
        Window { start, end_exclusive }
    }

    /// The same window a year earlier, for change-on-previous-period.
    pub fn year_before(&self) -> Self {
        let back = |d: NaiveDate| d.checked_sub_months(Months::new(12)).expect("date in range");
        Window { start: back(self.start), end_exclusive: back(self.end_exclusive) }
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d < self.end_exclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_year_is_financial_or_calendar_and_keeps_its_label() {
        for label in ["2023/24", "2023"] {
            assert_eq!(label.parse::<Year>().unwrap().to_string(), label);
        }
        assert_eq!("2023/2024".parse::<Year>().unwrap().to_string(), "2023/24");
        for bad in ["23", "2023/25", "20234", "1066", "2023-24", ""] {
            assert_eq!(bad.parse::<Year>(), Err(YearError(bad.to_string())), "{bad}");
        }
    }

    #[test]
    fn financial_year_labels_and_bounds() {
        let fy: FinancialYear = "2023/24".parse().unwrap();
        assert_eq!(fy.start(), d(2023, 4, 1));
        assert_eq!(fy.end_exclusive(), d(2024, 4, 1));
        assert_eq!(fy.to_string(), "2023/24");
        assert_eq!("1999/00".parse::<FinancialYear>().unwrap().to_string(), "1999/00");
        assert_eq!("2023/2024".parse::<FinancialYear>().unwrap(), fy);
        assert_eq!(FinancialYear::containing(d(2024, 3, 31)), fy);
        assert_eq!(FinancialYear::containing(d(2024, 4, 1)).to_string(), "2024/25");
        assert_eq!(fy.previous().to_string(), "2022/23");
    }

    #[test]
    fn bad_labels_refused() {
        for s in ["2023", "2023/25", "23/24", "2023-24", "abcd/ef", ""] {
            assert!(s.parse::<FinancialYear>().is_err(), "{s}");
        }
    }

    #[test]
    fn rolling_window() {
        let w = Window::ending(d(2024, 2, 29), 12);
        assert_eq!(w.start, d(2023, 3, 1));
        assert_eq!(w.end_exclusive, d(2024, 3, 1));
        assert!(w.contains(d(2024, 2, 29)) && !w.contains(d(2024, 3, 1)));
        assert_eq!(w.year_before().start, d(2022, 3, 1));
    }
}
