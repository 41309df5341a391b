//! The report page: one HTML file with inline CSS and SVG, no scripts and
//! no network, so it opens the same from a shared drive as from an email.

use super::words::headline;
use super::{Manifest, Section, figures};
use crate::disclosure::{Grid, Policy, SUPPRESSED};
use crate::measures;
use std::fmt::Write as _;

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Rows of a table shown in the page; every row is in the CSV.
const MAX_ROWS: usize = 48;

/// Screen and A4 print. Tables wrap their cells rather than scroll (a
/// scrolling region is out of reach of the keyboard, and cut off on
/// paper); text colours keep WCAG AA contrast on their backgrounds.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.7em}h2{margin-top:2em;border-bottom:2px solid #1b6ca8;padding-bottom:.2em}\
table{border-collapse:collapse;font-size:.8em;margin:1em 0;max-width:100%}caption{text-align:left;font-weight:600;padding:.3em 0}\
th,td{border:1px solid #ccc;padding:.25em .4em;text-align:right;overflow-wrap:break-word}th{background:#f0f4f8}\
td.key,th[scope=row]{text-align:left}details{margin:.5em 0}summary{cursor:pointer;color:#1b5e91;font-weight:600}\
.about{white-space:pre-wrap;color:#444;font-size:.9em;background:#fafafa;padding:.6em;border-left:3px solid #ccc;overflow-wrap:anywhere}\
.headline{font-size:1.15em;font-weight:600;margin:.6em 0}.meta{color:#555}.protect{background:#fff4d6;border-left:6px solid #e0a800;padding:.4em 1em;margin:1em 0}.protect h2{margin-top:.3em;border:0}.note{color:#555;font-size:.85em}svg.chart{max-width:100%;height:auto;margin:.5em 0}nav a{margin-right:.8em}\
@page{size:A4;margin:14mm 12mm}\
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}nav{display:none}h2{break-after:avoid;margin-top:1.2em}\
table{font-size:7pt;width:100%}tr,svg.chart,.protect{break-inside:avoid}svg.chart{width:100%;height:auto}a{color:inherit}}";

fn policy_text(p: Policy) -> &'static str {
    match p {
        Policy::Public => "public: small counts suppressed, other counts rounded to the nearest 5 (see How figures are protected)",
        Policy::Partner => "partner: small counts suppressed (see How figures are protected)",
        Policy::Analyst => "analyst: exact counts (not for publication)",
    }
}

/// The box that tells a reader what `*` and rounded figures mean, with the
/// protection level and what the intruder audit checked.
fn protection_box(m: &Manifest) -> String {
    let Some(d) = &m.disclosure else { return String::new() };
    let r = &d.rules;
    let mut h = String::from("<section id=\"protection\" class=\"protect\"><h2>How figures are protected</h2><ul>");
    let _ = write!(
        h,
        "<li><b>*</b> means a count of 1 to {} people or events, suppressed so that no one can be identified, or another count suppressed so that a small one cannot be worked out from totals, other tables or other years. A figure computed from a suppressed count (a rate, a percentage, a change) is suppressed too.</li>",
        r.threshold
    );
    if let Some(step) = r.rounding {
        let _ = write!(
            h,
            "<li>Every other count is <b>rounded to the nearest {step}</b>, so totals may not equal the sum of their parts. Rates, percentages and changes are computed from the rounded counts; rates use the exact resident population.</li>"
        );
    }
    let _ = write!(
        h,
        "<li>Zeros are true zeros. Rates on fewer than {} published events are not shown.</li><li>Checked: from every table of this report together, an intruder cannot narrow any suppressed count of 1 to {} to less than {} either side of its true value, nor recover any rounded count exactly. {} counts checked, {} suppressed in this report ({} as small, {} to protect them, over all years).</li></ul></section>",
        r.min_rate_events, r.threshold, r.protection, d.audit.cells_checked, d.suppressed_in_report, d.primary, d.secondary
    );
    h
}

/// A line under a table saying how many of its cells are suppressed.
fn table_note(s: &Section, rows: &[&Vec<Option<String>>], m: &Manifest) -> String {
    let Some(d) = &m.disclosure else { return String::new() };
    let cols: Vec<usize> = s.measure.spec.counts.iter().filter_map(|c| s.grid.col(c)).collect();
    if cols.is_empty() {
        return String::new();
    }
    let hidden: usize = rows.iter().map(|r| cols.iter().filter(|c| r[**c].as_deref() == Some(SUPPRESSED)).count()).sum();
    let rounded = d.rules.rounding.map_or(String::new(), |s| format!(" Counts rounded to the nearest {s}."));
    format!("<p class=\"note\">{hidden} count(s) in this table shown as * (suppressed: <a href=\"#protection\">why</a>).{rounded}</p>")
}

/// Rows shown in the page: the report year, and for area measures the
/// focus area as a whole (the CSVs hold every row).
fn shown_rows<'a>(grid: &'a Grid, year: &str) -> Vec<&'a Vec<Option<String>>> {
    let period = grid.col("period");
    let area = grid.col("area_code");
    grid.rows
        .iter()
        .filter(|r| period.is_none_or(|c| r[c].as_deref().is_none_or(|p| p == year || !p.contains('/'))))
        .filter(|r| area.is_none_or(|c| r[c].as_deref() == Some("focus")))
        .collect()
}

/// Label columns with the same value on every shown row (the period, the
/// area) are said once in the caption rather than repeated down the table,
/// so it fits the page without scrolling. Returns the caption text and
/// the columns left to show.
fn fold_constant_labels(grid: &Grid, rows: &[&Vec<Option<String>>]) -> (String, Vec<usize>) {
    let mut said = Vec::new();
    let mut keep = Vec::new();
    for (i, name) in grid.columns.iter().enumerate() {
        let first = rows.first().and_then(|r| r[i].as_deref());
        let label = first.is_some_and(|v| v.parse::<f64>().is_err() && v != SUPPRESSED);
        if rows.len() > 1 && label && rows.iter().all(|r| r[i].as_deref() == first) {
            said.push(format!("{} {}", name.replace('_', " "), first.unwrap_or_default()));
        } else {
            keep.push(i);
        }
    }
    (said.join(", "), keep)
}

/// "37.5% (n=6)": percentages with their numerator, as annual reports write them.
fn cell(section: &Section, row: &[Option<String>], col: usize) -> String {
    let name = &section.grid.columns[col];
    let value = row[col].as_deref().unwrap_or("");
    let numerator = section.measure.spec.derived.iter().find(|(d, _)| d == name).and_then(|(_, d)| d.numerator());
    if let Some(num) = numerator
        && value != SUPPRESSED
        && !value.is_empty()
        && let Some(n) = section.grid.col(num).and_then(|c| row[c].as_deref())
    {
        return format!("{value}% (n={n})");
    }
    value.to_string()
}

pub fn render(m: &Manifest, sections: &[Section]) -> String {
    let mut h = String::new();
    let title = format!("Serious violence: annual review {}", m.year);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p class=\"meta\">Area: {} ({}). Serious-violence definition <b>{}</b> version {}. Disclosure control {}. Data as recorded in the lake tables listed at the end. Generated {}.</p>",
        esc(&title),
        esc(&m.focus_name),
        esc(&m.focus_area.join(", ")),
        esc(&m.definition.name),
        esc(&m.definition.version),
        esc(policy_text(m.audience)),
        m.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(note) = &m.partial {
        let _ = write!(h, "<p class=\"partial\" role=\"note\"><b>Partial year.</b> {}.</p>", esc(note));
    }
    h.push_str("<nav>");
    for s in sections {
        let _ = write!(h, "<a href=\"#{}\">{}</a>", s.measure.view, esc(s.measure.id));
    }
    h.push_str("</nav></header>");
    h.push_str(&protection_box(m));
    for s in sections {
        let file = format!("{}.csv", s.measure.view.trim_start_matches("measure_"));
        let _ = write!(h, "<section id=\"{}\"><h2>{} {}</h2>", s.measure.view, esc(s.measure.id), esc(s.measure.title));
        let rows = shown_rows(&s.grid, &m.year);
        if let Some(line) = headline(s, &rows, m) {
            let _ = write!(h, "<p class=\"headline\">{line}</p>");
        }
        let _ = write!(
            h,
            "<details><summary>About this measure</summary><div class=\"about\">{}</div></details>",
            esc(&measures::header(s.measure))
        );
        if let Some(f) = figures::for_measure(s.measure.view, &s.grid, &m.year) {
            h.push_str(&f.svg);
            h.push_str(&f.table);
        }
        if s.grid.rows.is_empty() {
            let _ = write!(h, "<p><i>No data in the lake for this measure.</i></p></section>");
            continue;
        }
        let shown = &rows[..rows.len().min(MAX_ROWS)];
        if let [row] = shown {
            // One row: read down, as a list of figures, not across 16 columns.
            let _ = write!(h, "<table><caption>{} {}, {}</caption><tbody>", esc(s.measure.id), esc(s.measure.title), esc(&m.year));
            for (i, c) in s.grid.columns.iter().enumerate() {
                let _ = write!(h, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", esc(&c.replace('_', " ")), esc(&cell(s, row, i)));
            }
            h.push_str("</tbody></table>");
            h.push_str(&table_note(s, shown, m));
            let _ = write!(h, "<p>1 of {} rows shown; all rows: <a href=\"{file}\">{file}</a></p></section>", s.grid.rows.len());
            continue;
        }
        let (folded, columns) = fold_constant_labels(&s.grid, shown);
        let caption = if folded.is_empty() { m.year.clone() } else { folded };
        let _ = write!(h, "<table><caption>{} {}: {}</caption><thead><tr>", esc(s.measure.id), esc(s.measure.title), esc(&caption));
        for c in &columns {
            let _ = write!(h, "<th scope=\"col\">{}</th>", esc(&s.grid.columns[*c].replace('_', " ")));
        }
        h.push_str("</tr></thead><tbody>");
        for r in shown {
            h.push_str("<tr>");
            for &i in &columns {
                let v = &r[i];
                let key = v.as_deref().is_some_and(|v| v.parse::<f64>().is_err() && v != SUPPRESSED);
                let _ = write!(h, "<td{}>{}</td>", if key { " class=\"key\"" } else { "" }, esc(&cell(s, r, i)));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table>");
        h.push_str(&table_note(s, shown, m));
        let _ = write!(
            h,
            "<p>{} of {} rows shown; all rows: <a href=\"{file}\">{file}</a></p></section>",
            rows.len().min(MAX_ROWS),
            s.grid.rows.len()
        );
    }
    h.push_str(
        "<footer><h2>How these figures were made</h2><table><thead><tr><th>lake table</th><th>Delta version</th></tr></thead><tbody>",
    );
    for (t, v) in &m.tables {
        let _ = write!(h, "<tr><td class=\"key\">{}</td><td>{}</td></tr>", esc(t), v.map_or("not in lake".to_string(), |v| v.to_string()));
    }
    let _ = write!(
        h,
        "</tbody></table><p class=\"meta\">Reproduce with <code>vru report --from-manifest manifest.json</code>. Offence catalogue {}; definition sha256 {}; cohort window {} years; as of {}.</p></footer></body></html>",
        esc(&m.catalogue_version),
        &m.definition.sha256[..16.min(m.definition.sha256.len())],
        m.cohort_years,
        m.as_of
    );
    h.push('\n');
    h
}
