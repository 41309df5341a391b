//! Figures in words, as published annual reviews open each section: the
//! year's figure with its change on the year before, and the last three
//! years. Suppressed figures are said to be suppressed, never guessed at.

use super::html::esc;
use super::{Manifest, Section};
use crate::disclosure::{Grid, SUPPRESSED};
use std::fmt::Write as _;

/// The measure's figure for the year in words, with the change on the year
/// before, as published annual reviews open each section: "Serious
/// violence offences, 2023/24: 385 offences, down 4.9% from 405 in
/// 2022/23." Only for measures that carry a previous-year column, on the
/// focus area's row (its `total` category where there are categories); a
/// suppressed figure is said to be suppressed, never guessed at.
pub(super) fn headline(s: &Section, rows: &[&Vec<Option<String>>], m: &Manifest) -> Option<String> {
    let g = &s.grid;
    let prev_col = g.columns.iter().position(|c| c.starts_with("previous_") && c != "previous_period")?;
    let col = g.col(g.columns[prev_col].trim_start_matches("previous_"))?;
    let row = match g.col("category") {
        Some(c) => rows.iter().find(|r| r[c].as_deref() == Some("total"))?,
        None if rows.len() == 1 => rows[0],
        None => return None,
    };
    let what = g.columns[col].replace('_', " ");
    let get = |c: Option<usize>| c.and_then(|c| row[c].as_deref()).filter(|v| !v.is_empty());
    let lead = format!("{}, {}: ", esc(s.measure.title), esc(&m.year));
    let value = get(Some(col))?;
    if value == SUPPRESSED {
        return Some(format!(
            "{lead}the number of {what} is suppressed: a small count, or one that would reveal one (see <a href=\"#protection\">How figures are protected</a>)."
        ));
    }
    let mut text = format!("{lead}{} {what}", esc(value));
    let previous = get(Some(prev_col)).filter(|p| *p != SUPPRESSED);
    let period = get(g.col("previous_period")).unwrap_or("the year before");
    if let (Some(p), Ok(v)) = (previous, value.parse::<f64>())
        && let Ok(pv) = p.parse::<f64>()
    {
        let pct = get(g.col("change_pct")).and_then(|c| c.parse::<f64>().ok()).or((pv > 0.0).then(|| (v - pv) * 100.0 / pv));
        let change = match pct {
            Some(x) if x.abs() < 0.05 => "the same as".to_string(),
            Some(x) => format!("{} {:.1}% from", if x < 0.0 { "down" } else { "up" }, x.abs()),
            None => "against".to_string(),
        };
        let _ = write!(text, ", {change} {} in {}", esc(p), esc(period));
    }
    text.push('.');
    if let Some(t) = trend(g, col, row, &m.year) {
        let _ = write!(text, " {t}");
    }
    if let Some(step) = m.disclosure.as_ref().and_then(|d| d.rules.rounding) {
        let _ = write!(text, " Counts rounded to the nearest {step}.");
    }
    Some(text)
}

/// "Over three years: 412 in 2021/22, 398 in 2022/23 and 385 in 2023/24
/// (down 6.6% since 2021/22)." The financial years up to `year` of the
/// same row (area and category as `row`), three of them or nothing.
pub(super) fn trend(g: &Grid, col: usize, row: &[Option<String>], year: &str) -> Option<String> {
    let period = g.col("period")?;
    let same: Vec<usize> = ["area_code", "area_type", "area_name", "category"].iter().filter_map(|c| g.col(c)).collect();
    let financial = |r: &Vec<Option<String>>| match g.col("period_type") {
        Some(t) => r[t].as_deref() == Some("financial_year"),
        None => r[period].as_deref().is_some_and(|p| p.contains('/')),
    };
    let mut years: Vec<(&str, &str)> = g
        .rows
        .iter()
        .filter(|r| financial(r) && same.iter().all(|&c| r[c] == row[c]))
        .filter_map(|r| Some((r[period].as_deref()?, r[col].as_deref().unwrap_or(SUPPRESSED))))
        .filter(|(p, _)| *p <= year)
        .collect();
    years.sort();
    years.dedup_by_key(|(p, _)| *p);
    let [a, b, c] = years[years.len().checked_sub(3)?..] else { return None };
    if c.0 != year {
        return None;
    }
    let say =
        |(p, v): (&str, &str)| if v == SUPPRESSED { format!("suppressed in {}", esc(p)) } else { format!("{} in {}", esc(v), esc(p)) };
    let mut text = format!("Over three years: {}, {} and {}", say(a), say(b), say(c));
    if let (Ok(first), Ok(last)) = (a.1.parse::<f64>(), c.1.parse::<f64>())
        && first > 0.0
    {
        let pct = (last - first) * 100.0 / first;
        let change =
            if pct.abs() < 0.05 { "no change".to_string() } else { format!("{} {:.1}%", if pct < 0.0 { "down" } else { "up" }, pct.abs()) };
        let _ = write!(text, " ({change} since {})", esc(a.0));
    }
    text.push('.');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[[&str; 5]]) -> Grid {
        let columns = ["period", "period_type", "area_code", "category", "offences"].map(String::from).to_vec();
        let rows = rows.iter().map(|r| r.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()).collect();
        Grid { columns, rows }
    }

    #[test]
    fn three_years_of_the_same_row_in_words() {
        let g = grid(&[
            ["2020/21", "financial_year", "focus", "total", "450"],
            ["2021/22", "financial_year", "focus", "total", "410"],
            ["2022/23", "financial_year", "focus", "total", "*"],
            ["2023/24", "financial_year", "focus", "total", "385"],
            ["2023/24", "financial_year", "focus", "knife", "40"],
            ["2023/24", "financial_year", "E08000001", "total", "900"],
            ["2023", "calendar_year", "focus", "total", "390"],
            ["12 months to 2024-03-31", "rolling_12_months", "focus", "total", "385"],
            ["2024/25", "financial_year", "focus", "total", "100"],
        ]);
        let row = &g.rows[3];
        assert_eq!(
            trend(&g, 4, row, "2023/24").as_deref(),
            Some("Over three years: 410 in 2021/22, suppressed in 2022/23 and 385 in 2023/24 (down 6.1% since 2021/22).")
        );
        // Only two years up to 2021/22: nothing said.
        assert_eq!(trend(&g, 4, &g.rows[1], "2021/22"), None);
        // Another category has one year only.
        assert_eq!(trend(&g, 4, &g.rows[4], "2023/24"), None);
        // The first year suppressed: no change is claimed.
        let g2 = grid(&[
            ["2021/22", "financial_year", "focus", "total", "*"],
            ["2022/23", "financial_year", "focus", "total", "20"],
            ["2023/24", "financial_year", "focus", "total", "20"],
        ]);
        assert_eq!(
            trend(&g2, 4, &g2.rows[2], "2023/24").as_deref(),
            Some("Over three years: suppressed in 2021/22, 20 in 2022/23 and 20 in 2023/24.")
        );
    }
}
