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
    let Some(prev_col) = g.columns.iter().position(|c| c.starts_with("previous_") && c != "previous_period") else {
        return said(s, rows, m);
    };
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
    rounding(&mut text, m);
    Some(text)
}

fn rounding(text: &mut String, m: &Manifest) {
    if let Some(step) = m.disclosure.as_ref().and_then(|d| d.rules.rounding) {
        let _ = write!(text, " Counts rounded to the nearest {step}.");
    }
}

/// How a measure without a previous-year column is put in words: the row
/// it is read from (`column = value`), its figure, and a sentence whose
/// `{column}`s are that row's cells. The change on the year before comes
/// from the same row of the previous financial year in the published grid.
struct Said {
    view: &'static str,
    row: &'static [(&'static str, &'static str)],
    figure: &'static str,
    /// The figure is a percentage: its change is said in points.
    pct: bool,
    sentence: &'static str,
}

const SAID: &[Said] = &[
    Said {
        view: "measure_h1_public",
        row: &[("area_type", "force"), ("category", "total")],
        figure: "offences",
        pct: false,
        sentence: "{offences} serious-violence offences in the published street-level data for {area_name}",
    },
    Said {
        view: "measure_h5",
        row: &[("offence_group", "homicide_and_serious_assault")],
        figure: "focus_share_pct",
        pct: true,
        sentence: "{focus_share_pct}% of the region's homicides and serious violent assaults were in the area ({focus_offences} of {region_offences})",
    },
    Said {
        view: "measure_v1",
        row: &[("offence_group", "homicide_and_serious_assault"), ("age_band", "all")],
        figure: "victims",
        pct: false,
        sentence: "{victims} victims of homicide and serious assault, median age {median_age}",
    },
    Said {
        view: "measure_v2",
        row: &[("area_group", "focus_area")],
        figure: "pct_from_outside",
        pct: true,
        sentence: "{pct_from_outside}% of the area's personal-robbery victims live outside it ({victims_from_outside} of the {victims_home_known} whose home is known)",
    },
    Said {
        view: "measure_y1",
        row: &[],
        figure: "people",
        pct: false,
        sentence: "{people} young people aged 10-17 charged with {offences} serious-violence offences in {window_label}",
    },
    Said {
        view: "measure_p1",
        row: &[("respondents", "all"), ("dimension", "safe")],
        figure: "pct_agree",
        pct: true,
        sentence: "{pct_agree}% of survey respondents feel safe in their area ({agree} of {answered})",
    },
    Said {
        view: "measure_k1",
        row: &[("priority", "all"), ("status", "delivered")],
        figure: "commitments",
        pct: false,
        sentence: "{commitments} of the strategy's commitments delivered ({pct}%)",
    },
    Said {
        view: "measure_a1",
        row: &[("item", "attendances")],
        figure: "n",
        pct: false,
        sentence: "{n} A&E attendances for assault by patients aged 10-25",
    },
    Said {
        view: "measure_d1",
        row: &[("imd_decile", "1")],
        figure: "rate_per_1000",
        pct: false,
        sentence: "{rate_per_1000} serious-violence offences per 1,000 residents in the area's neighbourhoods among England's most deprived tenth ({offences} offences)",
    },
    Said {
        view: "measure_d2",
        row: &[("imd_decile", "1")],
        figure: "rate_per_100k",
        pct: false,
        sentence: "{rate_per_100k} ambulance call-outs to assaults per 100,000 residents in the area's neighbourhoods among England's most deprived tenth ({callouts} call-outs)",
    },
    Said {
        view: "measure_c1",
        row: &[("factor", "suspension")],
        figure: "cohort_pct",
        pct: true,
        sentence: "{cohort_pct}% of the cohort had a school suspension, against {comparison_pct}% of the comparison population (relative risk {relative_risk})",
    },
    Said {
        view: "measure_r1",
        row: &[("table_name", "all")],
        figure: "deleted_on_time",
        pct: false,
        sentence: "{deleted_on_time} records deleted on time and {deleted_late} late; {past_date_not_deleted} past their date still held without a hold",
    },
];

/// The headline of a measure in [`SAID`]: its sentence on the focus
/// area's row for the year, the change on the year before, the three-year
/// trend. A suppressed cell in the sentence is said to be suppressed.
fn said(s: &Section, rows: &[&Vec<Option<String>>], m: &Manifest) -> Option<String> {
    let g = &s.grid;
    let spec = SAID.iter().find(|x| x.view == s.measure.view)?;
    let keys: Vec<(usize, &str)> = spec.row.iter().map(|(c, v)| Some((g.col(c)?, *v))).collect::<Option<_>>()?;
    let period = g.col("period");
    let row = rows.iter().find(|r| {
        keys.iter().all(|&(c, v)| r[c].as_deref() == Some(v)) && period.is_none_or(|p| r[p].as_deref() == Some(m.year.as_str()))
    })?;
    let col = g.col(spec.figure)?;
    let lead = format!("{}, {}: ", esc(s.measure.title), esc(&m.year));
    let sentence = match fill(spec.sentence, g, row)? {
        Ok(sentence) => sentence,
        Err(column) => {
            return Some(format!(
                "{lead}the headline figure ({}) is suppressed: a small count, or one that would reveal one (see <a href=\"#protection\">How figures are protected</a>).",
                esc(&column.replace('_', " "))
            ));
        }
    };
    let mut text = format!("{lead}{sentence}");
    let same: Vec<usize> = keys.iter().map(|k| k.0).collect();
    if let Some(change) = change_on_previous_year(g, col, row, &m.year, &same, spec.pct) {
        let _ = write!(text, "; {change}");
    }
    text.push('.');
    if let Some(t) = trend_of(g, col, row, &m.year, &same, spec.pct) {
        let _ = write!(text, " {t}");
    }
    // Only counts of people and events are rounded (K1's commitments are not).
    if s.measure.spec.counts.iter().any(|c| spec.sentence.contains(&format!("{{{c}}}"))) {
        rounding(&mut text, m);
    }
    Some(text)
}

/// The sentence with each `{column}` replaced by the row's cell (escaped);
/// `Err(column)` for the first suppressed one, `None` when a cell is
/// empty or the grid lacks a column.
fn fill(template: &str, g: &Grid, row: &[Option<String>]) -> Option<Result<String, String>> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        let column = &rest[open + 1..close];
        let cell = row[g.col(column)?].as_deref().filter(|v| !v.is_empty())?;
        if cell == SUPPRESSED {
            return Some(Err(column.to_string()));
        }
        out.push_str(&rest[..open]);
        out.push_str(&esc(cell));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(Ok(out))
}

/// "up 4.9% from 405 in 2022/23" (or "up 2.1 points from 31.0% in
/// 2022/23" for a percentage), from the same row one financial year back.
/// The row is matched on the area, category and period type and on `also`.
fn change_on_previous_year(g: &Grid, col: usize, row: &[Option<String>], year: &str, also: &[usize], pct: bool) -> Option<String> {
    let previous = previous_financial_year(year)?;
    let period = g.col("period")?;
    let mut keys: Vec<usize> = ["area_code", "area_type", "area_name", "category", "period_type"].iter().filter_map(|c| g.col(c)).collect();
    keys.extend_from_slice(also);
    let before = g.rows.iter().find(|r| r[period].as_deref() == Some(previous.as_str()) && keys.iter().all(|&c| r[c] == row[c]))?;
    let (now, then) = (row[col].as_deref()?, before[col].as_deref()?);
    if then == SUPPRESSED {
        return Some(format!("suppressed in {previous}"));
    }
    let (v, p) = (now.parse::<f64>().ok()?, then.parse::<f64>().ok()?);
    let unit = if pct { "%" } else { "" };
    let (d, by) = if pct {
        (v - p, "points")
    } else if p > 0.0 {
        ((v - p) * 100.0 / p, "%")
    } else {
        return Some(format!("against {then} in {previous}"));
    };
    Some(if d.abs() < 0.05 {
        format!("the same as in {previous}")
    } else {
        let sep = if by == "%" { "" } else { " " };
        format!("{} {:.1}{sep}{by} from {}{unit} in {}", if d < 0.0 { "down" } else { "up" }, d.abs(), esc(then), esc(&previous))
    })
}

/// "2023/24" -> "2022/23".
fn previous_financial_year(year: &str) -> Option<String> {
    let (a, _) = year.split_once('/')?;
    let a: i32 = a.parse().ok()?;
    Some(format!("{}/{:02}", a - 1, a.rem_euclid(100)))
}

/// "Over three years: 412 in 2021/22, 398 in 2022/23 and 385 in 2023/24
/// (down 6.6% since 2021/22)." The financial years up to `year` of the
/// same row (area and category as `row`), three of them or nothing.
pub(super) fn trend(g: &Grid, col: usize, row: &[Option<String>], year: &str) -> Option<String> {
    trend_of(g, col, row, year, &[], false)
}

/// [`trend`], the row also matched on the columns `also`; the change of a
/// percentage (`pct`) is said in points.
fn trend_of(g: &Grid, col: usize, row: &[Option<String>], year: &str, also: &[usize], pct: bool) -> Option<String> {
    let period = g.col("period")?;
    let mut same: Vec<usize> = ["area_code", "area_type", "area_name", "category"].iter().filter_map(|c| g.col(c)).collect();
    same.extend_from_slice(also);
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
    let say = |(p, v): (&str, &str)| {
        if v == SUPPRESSED {
            format!("suppressed in {}", esc(p))
        } else {
            format!("{}{} in {}", esc(v), if pct { "%" } else { "" }, esc(p))
        }
    };
    let mut text = format!("Over three years: {}, {} and {}", say(a), say(b), say(c));
    if let (Ok(first), Ok(last)) = (a.1.parse::<f64>(), c.1.parse::<f64>())
        && first > 0.0
    {
        let (d, by) = if pct { (last - first, " points") } else { ((last - first) * 100.0 / first, "%") };
        let change =
            if d.abs() < 0.05 { "no change".to_string() } else { format!("{} {:.1}{by}", if d < 0.0 { "down" } else { "up" }, d.abs()) };
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

    #[test]
    fn a_sentence_from_a_row_and_its_change_on_the_year_before() {
        let columns = ["period", "period_type", "respondents", "agree", "pct_agree"].map(String::from).to_vec();
        let cells = |r: [&str; 5]| r.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect::<Vec<_>>();
        let g = Grid {
            columns,
            rows: vec![
                cells(["2021/22", "financial_year", "all", "300", "30.5"]),
                cells(["2022/23", "financial_year", "all", "310", "31.0"]),
                cells(["2022/23", "financial_year", "young_people", "*", "*"]),
                cells(["2023/24", "financial_year", "all", "<b>", "33.1"]),
                cells(["2023/24", "financial_year", "young_people", "*", "40.0"]),
            ],
        };
        let t = "{pct_agree}% agree ({agree})";
        assert_eq!(fill(t, &g, &g.rows[3]), Some(Ok("33.1% agree (&lt;b&gt;)".to_string())), "cells are escaped");
        assert_eq!(fill(t, &g, &g.rows[4]), Some(Err("agree".to_string())));
        assert_eq!(fill("{no_such_column}", &g, &g.rows[3]), None);
        assert_eq!(previous_financial_year("2023/24").as_deref(), Some("2022/23"));
        assert_eq!(previous_financial_year("2000/01").as_deref(), Some("1999/00"));
        assert_eq!(previous_financial_year("2023"), None);
        // A percentage changes in points, matched on the respondents too.
        assert_eq!(
            change_on_previous_year(&g, 4, &g.rows[3], "2023/24", &[2], true).as_deref(),
            Some("up 2.1 points from 31.0% in 2022/23")
        );
        assert_eq!(change_on_previous_year(&g, 4, &g.rows[4], "2023/24", &[2], true).as_deref(), Some("suppressed in 2022/23"));
        assert_eq!(change_on_previous_year(&g, 3, &g.rows[1], "2022/23", &[2], false).as_deref(), Some("up 3.3% from 300 in 2021/22"));
        assert_eq!(change_on_previous_year(&g, 3, &g.rows[0], "2021/22", &[2], false), None, "no year before");
        assert_eq!(
            trend_of(&g, 4, &g.rows[3], "2023/24", &[2], true).as_deref(),
            Some("Over three years: 30.5% in 2021/22, 31.0% in 2022/23 and 33.1% in 2023/24 (up 2.6 points since 2021/22).")
        );
    }
}
