//! The chart for each measure, drawn from its published (disclosure
//! controlled) rows, so a chart never shows what the table hides.

use super::charts::{self, Series};
use crate::disclosure::{Grid, SUPPRESSED};

/// Rows of a grid as name -> value lookups.
struct Rows<'a> {
    grid: &'a Grid,
}

impl<'a> Rows<'a> {
    fn get<'r>(&self, row: &'r [Option<String>], col: &str) -> Option<&'r str> {
        self.grid.col(col).and_then(|c| row[c].as_deref())
    }
    fn num(&self, row: &[Option<String>], col: &str) -> Option<f64> {
        self.get(row, col).and_then(|v| v.parse().ok())
    }
    fn filtered(&self, conds: &[(&str, &str)]) -> Vec<&'a Vec<Option<String>>> {
        self.grid.rows.iter().filter(|r| conds.iter().all(|(c, v)| self.get(r, c) == Some(*v))).collect()
    }
}

/// Distinct values of a column in first-seen order.
fn distinct(rows: &Rows<'_>, sel: &[&Vec<Option<String>>], col: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in sel {
        if let Some(v) = rows.get(r, col)
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_string());
        }
    }
    out
}

/// One series per value of `series_col`, x along `x_col`; a value shown
/// as `*` is a suppressed gap, a missing row a plain one.
fn pivot(rows: &Rows<'_>, sel: &[&Vec<Option<String>>], x_col: &str, series_col: Option<&str>, value: &str) -> (Vec<String>, Vec<Series>) {
    let xs = distinct(rows, sel, x_col);
    let names = series_col.map_or_else(|| vec![value.to_string()], |s| distinct(rows, sel, s));
    let series = names
        .iter()
        .map(|name| {
            let found: Vec<Option<&&Vec<Option<String>>>> = xs
                .iter()
                .map(|x| sel.iter().find(|r| rows.get(r, x_col) == Some(x) && series_col.is_none_or(|s| rows.get(r, s) == Some(name))))
                .collect();
            Series {
                name: name.replace('_', " "),
                values: found.iter().map(|r| r.and_then(|r| rows.num(r, value))).collect(),
                suppressed: found.iter().map(|r| r.is_some_and(|r| rows.get(r, value) == Some(SUPPRESSED))).collect(),
            }
        })
        .collect();
    (xs, series)
}

/// A measure's chart and the table of its figures.
pub struct Figure {
    pub svg: String,
    pub table: String,
}

fn figure(svg: String, title: &str, x_name: &str, x: &[String], s: &[Series]) -> Figure {
    Figure { svg, table: charts::data_table(title, x_name, x, s) }
}

pub fn for_measure(view: &str, grid: &Grid, year: &str) -> Option<Figure> {
    let rows = Rows { grid };
    let fig = match view {
        "measure_h1" => {
            let sel: Vec<_> =
                rows.filtered(&[("area_code", "focus")]).into_iter().filter(|r| rows.get(r, "category") != Some("asb")).collect();
            let (x, s) = pivot(&rows, &sel, "period", Some("category"), "offences");
            {
                let title = String::from("Serious violence offences by year, focus area");
                figure(charts::lines(&title, &x, &s, "offences"), &title, "period", &x, &s)
            }
        }
        "measure_h2" => {
            let sel = rows.filtered(&[("area_code", "focus")]);
            let (x, s) = pivot(&rows, &sel, "period", None, "homicides");
            {
                let title = String::from("Homicides by year, focus area");
                figure(charts::lines(&title, &x, &s, "homicides"), &title, "period", &x, &s)
            }
        }
        "measure_h3" | "measure_h4" => {
            let sel = rows.filtered(&[("area_code", "focus")]);
            let (all, young) = if view == "measure_h3" {
                ("knife_offences", "knife_offences_victim_under_25")
            } else {
                ("attendances", "attendances_under_25")
            };
            let (x, mut s) = pivot(&rows, &sel, "period", None, all);
            s.extend(pivot(&rows, &sel, "period", None, young).1);
            {
                let title =
                    String::from(if view == "measure_h3" { "Knife-flagged offences by year" } else { "A&E sharp-object assaults by year" });
                figure(charts::lines(&title, &x, &s, "count"), &title, "period", &x, &s)
            }
        }
        "measure_d1" => {
            let sel = rows.filtered(&[("period", year)]);
            let (x, s) = pivot(&rows, &sel, "imd_decile", None, "rate_per_1000");
            {
                let title = format!("Serious violence rate per 1,000 by IMD decile (1 = most deprived), {year}");
                figure(charts::bars(&title, &x, &s, "per 1,000"), &title, "imd_decile", &x, &s)
            }
        }
        "measure_v1" => {
            let sel: Vec<_> = rows.filtered(&[("period", year)]).into_iter().filter(|r| rows.get(r, "age_band") != Some("all")).collect();
            let (x, s) = pivot(&rows, &sel, "age_band", Some("offence_group"), "pct");
            {
                let title = format!("Victims by age band, % of victims, {year}");
                figure(charts::bars(&title, &x, &s, "%"), &title, "age_band", &x, &s)
            }
        }
        "measure_a1_hour_day" => {
            let sel = rows.filtered(&[("period", year)]);
            let days = distinct(&rows, &sel, "day");
            let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
            let cells = days
                .iter()
                .map(|d| {
                    (0..24)
                        .map(|h| {
                            sel.iter()
                                .find(|r| rows.get(r, "day") == Some(d) && rows.get(r, "hour") == Some(&h.to_string()))
                                .and_then(|r| rows.num(r, "attendances"))
                        })
                        .collect()
                })
                .collect::<Vec<Vec<Option<f64>>>>();
            let title = format!("A&E assault attendances aged 10-25 by hour and day, {year}");
            let by_day: Vec<Series> = days
                .iter()
                .zip(&cells)
                .map(|(d, values)| Series {
                    name: d.clone(),
                    values: values.clone(),
                    suppressed: (0..24)
                        .map(|h| {
                            sel.iter().any(|r| {
                                rows.get(r, "day") == Some(d)
                                    && rows.get(r, "hour") == Some(&h.to_string())
                                    && rows.get(r, "attendances") == Some(SUPPRESSED)
                            })
                        })
                        .collect(),
                })
                .collect();
            figure(charts::heat_map(&title, &days, &hours, &cells), &title, "hour", &hours, &by_day)
        }
        "measure_c1" => {
            let sel = rows.filtered(&[("period", year)]);
            let (x, mut s) = pivot(&rows, &sel, "factor", None, "cohort_pct");
            s.extend(pivot(&rows, &sel, "factor", None, "comparison_pct").1);
            {
                let title = format!("Risk factors: cohort against comparison, %, {year}");
                figure(charts::bars(&title, &x, &s, "%"), &title, "factor", &x, &s)
            }
        }
        "measure_y1" => {
            let (x, mut s) = pivot(&rows, &rows.grid.rows.iter().collect::<Vec<_>>(), "period", None, "people");
            s.extend(pivot(&rows, &rows.grid.rows.iter().collect::<Vec<_>>(), "period", None, "offences").1);
            {
                let title = String::from("Serious youth violence cohort by window");
                figure(charts::lines(&title, &x, &s, "count"), &title, "period", &x, &s)
            }
        }
        "measure_p1" => {
            let sel = rows.filtered(&[("period", year), ("area_code", "focus")]);
            let (x, s) = pivot(&rows, &sel, "dimension", Some("respondents"), "pct_agree");
            {
                let title = format!("Feeling safe, supported, respected, hopeful, %, {year}");
                figure(charts::bars(&title, &x, &s, "% agree"), &title, "dimension", &x, &s)
            }
        }
        "measure_k1" => {
            let sel: Vec<_> = rows
                .filtered(&[("period", year), ("priority", "all")])
                .into_iter()
                .filter(|r| rows.get(r, "status") != Some("total"))
                .collect();
            let (x, s) = pivot(&rows, &sel, "status", None, "commitments");
            {
                let title = format!("Commitments by status at the end of {year}");
                figure(charts::bars(&title, &x, &s, "commitments"), &title, "status", &x, &s)
            }
        }
        _ => return None,
    };
    Some(fig)
}
