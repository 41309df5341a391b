//! Charts as inline SVG: the report is one self-contained file, readable
//! offline, with nothing to execute. Suppressed values (`*`) are gaps, not
//! zeros, marked on the axis with a `*` and explained under the chart, so
//! a broken line is never mistaken for a fall to nothing. Every mark
//! carries a `<title>` so hovering shows the figure, and every chart has a
//! table of the same figures ([`data_table`]) for screen readers and for
//! anyone who would rather read numbers.

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;
pub const PALETTE: &[&str] = &["#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#30638e", "#e07a5f"];

pub struct Series {
    pub name: String,
    /// One value per x label; `None` is a gap (suppressed or missing).
    pub values: Vec<Option<f64>>,
    /// Per x label: the gap is a suppressed figure (`*`), not a missing row.
    pub suppressed: Vec<bool>,
}

impl Series {
    fn hidden(&self, k: usize) -> bool {
        self.suppressed.get(k).copied().unwrap_or(false)
    }
}

/// What a `*` under a chart means, said where the reader looks.
pub const SUPPRESSED_NOTE: &str = "* suppressed: a small count, or one that would reveal it (see How figures are protected)";

/// Marks each suppressed point of `s` on the x axis with a `*` (hover:
/// "suppressed"); returns whether there was any.
fn mark_suppressed(svg: &mut String, labels: &[String], s: &Series, color: &str, x_of: impl Fn(usize) -> f64) -> bool {
    let y = H - BOTTOM - 4.0;
    let mut any = false;
    for k in (0..labels.len()).filter(|k| s.hidden(*k)) {
        any = true;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}" font-size="16" font-weight="bold" text-anchor="middle" fill="{color}">*<title>{} {}: suppressed</title></text>"#,
            x_of(k),
            esc(&s.name),
            esc(&labels[k])
        );
    }
    any
}

fn suppressed_note(svg: &mut String) {
    let _ = write!(svg, r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#444">{}</text>"##, H - 6.0, esc(SUPPRESSED_NOTE));
}

/// The chart's figures as a table, folded under "Chart data": the text
/// equivalent of the chart (WCAG 1.1.1), `*` where suppressed.
pub fn data_table(caption: &str, x_name: &str, labels: &[String], series: &[Series]) -> String {
    let mut h = format!(
        "<details class=\"chart-data\"><summary>Chart data</summary><table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th>",
        esc(caption),
        esc(&x_name.replace('_', " "))
    );
    for s in series {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(&s.name));
    }
    h.push_str("</tr></thead><tbody>");
    for (k, l) in labels.iter().enumerate() {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(&l.replace('_', " ")));
        for s in series {
            let v = match s.values.get(k).copied().flatten() {
                Some(v) => fmt(v),
                None if s.hidden(k) => "*".to_string(),
                None => String::new(),
            };
            let _ = write!(h, "<td>{v}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></details>");
    h
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|m| *m >= v).unwrap_or(v)
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn axes(svg: &mut String, labels: &[String], max: f64, y_label: &str) {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            fmt(v)
        );
    }
    let step = (W - LEFT - RIGHT) / labels.len().max(1) as f64;
    // Long labels in narrow slots are slanted rather than overprinted.
    let slant = labels.iter().any(|l| l.len() as f64 * 6.0 > step);
    for (i, l) in labels.iter().enumerate() {
        let x = LEFT + step * (i as f64 + 0.5);
        let y = H - BOTTOM + 16.0;
        let label = esc(&l.replace('_', " "));
        if slant {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{y:.1}" font-size="10" text-anchor="end" transform="rotate(-20 {x:.1} {y:.1})">{label}</text>"#
            );
        } else {
            let _ = write!(svg, r#"<text x="{x:.1}" y="{y:.1}" font-size="11" text-anchor="middle">{label}</text>"#);
        }
    }
    let _ = write!(
        svg,
        r#"<text x="12" y="{:.1}" font-size="11" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        esc(y_label)
    );
}

fn open(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" aria-label="{}"><rect width="100%" height="100%" fill="white"/>"#,
        esc(title)
    )
}

fn legend(svg: &mut String, series: &[Series]) {
    for (i, s) in series.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            W - RIGHT + 10.0,
            y,
            PALETTE[i % PALETTE.len()],
            W - RIGHT + 24.0,
            y + 9.0,
            esc(&s.name)
        );
    }
}

/// Trend lines, one per series, over the x labels (years).
pub fn lines(title: &str, labels: &[String], series: &[Series], y_label: &str) -> String {
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0, f64::max));
    let mut svg = open(title, H);
    axes(&mut svg, labels, max, y_label);
    let step = (W - LEFT - RIGHT) / labels.len().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let mut any_hidden = false;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64, f64, &String)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (LEFT + step * (k as f64 + 0.5), TOP + plot_h - plot_h * v / max, v, &labels[k])))
            .collect();
        // Break the line at gaps so a suppressed year is not drawn through.
        let mut path = String::new();
        let mut prev: Option<usize> = None;
        for (k, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                let (x, y) = (LEFT + step * (k as f64 + 0.5), TOP + plot_h - plot_h * v / max);
                let _ = write!(path, "{}{x:.1},{y:.1} ", if prev == Some(k.wrapping_sub(1)) { "L" } else { "M" });
                prev = Some(k);
            }
        }
        let _ = write!(svg, r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2.5"/>"#, path.trim());
        any_hidden |= mark_suppressed(&mut svg, labels, s, color, |k| LEFT + step * (k as f64 + 0.5));
        for (x, y, v, l) in points {
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"><title>{} {}: {}</title></circle>"#,
                esc(&s.name),
                esc(l),
                fmt(v)
            );
        }
    }
    if any_hidden {
        suppressed_note(&mut svg);
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// Grouped bars: one group per x label, one bar per series.
pub fn bars(title: &str, labels: &[String], series: &[Series], y_label: &str) -> String {
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0, f64::max));
    let mut svg = open(title, H);
    axes(&mut svg, labels, max, y_label);
    let step = (W - LEFT - RIGHT) / labels.len().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let bar_w = (step * 0.8) / series.len().max(1) as f64;
    let mut any_hidden = false;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        any_hidden |= mark_suppressed(&mut svg, labels, s, color, |k| LEFT + step * k as f64 + step * 0.1 + bar_w * (i as f64 + 0.5));
        for (k, v) in s.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let h = plot_h * v / max;
            let x = LEFT + step * k as f64 + step * 0.1 + bar_w * i as f64;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                TOP + plot_h - h,
                bar_w * 0.95,
                PALETTE[i % PALETTE.len()],
                esc(&s.name),
                esc(&labels[k]),
                fmt(*v)
            );
        }
    }
    if any_hidden {
        suppressed_note(&mut svg);
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// A heat map of rows (days) by columns (hours); darker is more.
pub fn heat_map(title: &str, rows: &[String], cols: &[String], cells: &[Vec<Option<f64>>]) -> String {
    let cell_w = (W - LEFT - 20.0) / cols.len().max(1) as f64;
    let cell_h = 20.0;
    let height = TOP + cell_h * rows.len() as f64 + 40.0;
    let max = cells.iter().flatten().flatten().copied().fold(0.0, f64::max).max(1.0);
    let mut svg = open(title, height);
    for (r, label) in rows.iter().enumerate() {
        let y = TOP + cell_h * r as f64;
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#, LEFT - 6.0, y + 14.0, esc(label));
        for (c, v) in cells[r].iter().enumerate() {
            let x = LEFT + cell_w * c as f64;
            let (fill, text) = match v {
                Some(v) => {
                    let t = v / max;
                    // From pale yellow to dark red.
                    let (r0, g0, b0) = (255.0 - 75.0 * t, 240.0 - 200.0 * t, 200.0 - 170.0 * t);
                    (format!("rgb({r0:.0},{g0:.0},{b0:.0})"), fmt(*v))
                }
                None => ("#eeeeee".to_string(), "suppressed".to_string()),
            };
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="white"><title>{} {}: {text}</title></rect>"#,
                cell_w,
                cell_h,
                esc(label),
                esc(&cols[c])
            );
        }
    }
    for (c, label) in cols.iter().enumerate().filter(|(c, _)| c % 3 == 0) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            LEFT + cell_w * (c as f64 + 0.5),
            TOP + cell_h * rows.len() as f64 + 14.0,
            esc(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_lines_and_escape() {
        let s = lines(
            "t",
            &["a".into(), "b".into(), "c".into()],
            &[Series { name: "x<y".into(), values: vec![Some(1.0), None, Some(3.0)], suppressed: vec![false, true, false] }],
            "n",
        );
        assert!(s.contains("*<title>x&lt;y b: suppressed</title>") && s.contains(SUPPRESSED_NOTE), "{s}");
        let plain = lines("t", &["a".into()], &[Series { name: "x".into(), values: vec![None], suppressed: vec![false] }], "n");
        assert!(!plain.contains("suppressed"), "a missing row is a gap, not a suppression: {plain}");
        let t = data_table(
            "c",
            "period",
            &["a".into(), "b".into()],
            &[Series { name: "n".into(), values: vec![Some(2.0), None], suppressed: vec![false, true] }],
        );
        assert!(t.contains("<tr><th scope=\"row\">a</th><td>2</td></tr><tr><th scope=\"row\">b</th><td>*</td></tr>"), "{t}");
        assert!(s.contains(r#"d="M"#) && s.matches('M').count() >= 2, "{s}");
        assert!(s.contains("x&lt;y"));
        assert!(!s.contains("<script"));
        let h = heat_map("h", &["Mon".into()], &["0".into()], &[vec![None]]);
        assert!(h.contains("suppressed"));
    }
}
