//! The annual-review report: reproducible from its manifest by Delta time
//! travel, and rendered by a real browser with its charts drawn.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use vru_ingest::lake::Lake;
use vru_model::classification::{Catalogue, Definition};
use vru_model::period::FinancialYear;
use vru_queries::disclosure::Policy;
use vru_queries::report::{self, Manifest};
use vru_queries::{LakeSource, SessionOptions, build_session};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// A valid police extract of `n` more offences in 2022/23.
fn extra_offences(dir: &Path, n: usize) {
    let p = "f".repeat(64);
    let mut csv = String::from("record_id,crime_ref,offence_code,committed_at,offence_lsoa,role,person_id,age\n");
    for i in 0..n {
        csv.push_str(&format!("extra{i},{:064x},5D,2022-06-0{} 21:00,E01900001,victim,{p},30\n", i + 1, 1 + i % 9));
    }
    std::fs::create_dir_all(dir.join("police-northshire")).unwrap();
    std::fs::write(dir.join("police-northshire/offences_2023-01-01.csv"), csv).unwrap();
}

/// A small city in a fresh lake, and a report's options for 2022/23 with
/// the data as it stood at the year's end.
async fn small_city_2022(dir: &Path) -> (Lake, SessionOptions, FinancialYear) {
    let summary = generate(dir, &small_city(4));
    let lake = Lake::new(dir.join("lake"));
    load_reference(&lake, &summary).await;
    run_landing(&lake, &landing_dir(&summary)).await;
    let year: FinancialYear = "2022/23".parse().unwrap();
    let mut opts = SessionOptions::new(
        LakeSource::Delta { lake: lake.clone(), versions: Default::default() },
        Definition::builtin("local").unwrap(),
        summary.focus_area.clone(),
    );
    opts.as_of = year.end_exclusive().pred_opt();
    (lake, opts, year)
}

/// Writes the report of `opts` for `year` under `policy` into `out`.
async fn write_report(opts: &SessionOptions, year: &FinancialYear, policy: Policy, out: &Path) -> Manifest {
    report::write(&build_session(opts).await.unwrap(), opts, year, &policy.rules(), out, chrono::Utc::now()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_is_reproduced_from_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, opts, year) = small_city_2022(dir.path()).await;
    let first = write_report(&opts, &year, Policy::Public, &dir.path().join("r1")).await;

    // New data arrives: the lake moves on.
    let more = dir.path().join("more");
    extra_offences(&more, 40);
    run_landing(&lake, &more).await;

    // The same report from the manifest alone (its definition text, its
    // table versions), at a different time.
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.path().join("r1/manifest.json")).unwrap()).unwrap();
    let def = Definition::from_toml(&manifest.definition.text, &Catalogue::builtin()).unwrap();
    let mut again =
        SessionOptions::new(LakeSource::Delta { lake: lake.clone(), versions: manifest.tables.clone() }, def, manifest.focus_area.clone());
    again.as_of = Some(manifest.as_of);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let second =
        report::write(&build_session(&again).await.unwrap(), &again, &year, &manifest.audience.rules(), &dir.path().join("r2"), later)
            .await
            .unwrap();
    assert_eq!(Manifest { generated_at: first.generated_at, ..second.clone() }, first, "only the run time differs");
    let (a, b) = (files(&dir.path().join("r1")), files(&dir.path().join("r2")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        if name.ends_with(".csv") {
            assert!(bytes == &b[name], "{name} differs");
        }
    }
    let html = |m: &Manifest, bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).unwrap().replace(&m.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(), "RUN-TIME")
    };
    assert_eq!(html(&first, &a["report.html"]), html(&second, &b["report.html"]), "report.html differs beyond the run time");

    // At the latest versions the figures do change: time travel mattered.
    let latest = report::write(&build_session(&opts).await.unwrap(), &opts, &year, &Policy::Public.rules(), &dir.path().join("r3"), later)
        .await
        .unwrap();
    assert_ne!(latest.tables.get("police_offences"), first.tables.get("police_offences"));
    assert_ne!(files(&dir.path().join("r3"))["h1.csv"], a["h1.csv"]);
}

/// A PNG's width, height, samples per pixel and pixel bytes.
fn decode(png_path: &Path) -> (usize, usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, info.color_type.samples(), buf)
}

/// Pixels of the chart palette's first two colours in an RGBA screenshot.
fn chart_pixels(png_path: &Path) -> (usize, usize) {
    let (_, _, channels, buf) = decode(png_path);
    let px: Vec<&[u8]> = buf.chunks(channels).collect();
    let near = |p: &[u8], c: (u8, u8, u8)| p[0].abs_diff(c.0) < 12 && p[1].abs_diff(c.1) < 12 && p[2].abs_diff(c.2) < 12;
    (px.iter().filter(|p| near(p, (0x1b, 0x6c, 0xa8))).count(), px.iter().filter(|p| near(p, (0xd1, 0x49, 0x5b))).count())
}

/// Chromium if installed; without it the browser tests are skipped unless
/// `VRU_REQUIRE_BROWSER` is set (scripts/test sets it).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var_os("VRU_REQUIRE_BROWSER").is_none(), "chromium is required: apt-get install chromium");
        eprintln!("SKIPPED: chromium not installed (scripts/test installs it and makes this test mandatory)");
    }
    found
}

/// Renders a page headless into a PNG and checks the page raised no script error.
fn screenshot(chromium: &str, page: &Path, dir: &Path, name: &str) -> std::path::PathBuf {
    let shot = dir.join(name);
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(["--enable-logging=stderr", "--v=0", "--window-size=1200,6000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(shot.exists(), "no screenshot: {log}");
    for bad in ["Uncaught", "SyntaxError", "ReferenceError", "TypeError"] {
        assert!(!log.contains(bad), "script error in the page: {log}");
    }
    shot
}

/// Pixels near one colour in an RGBA screenshot.
fn pixels(png_path: &Path, c: (u8, u8, u8)) -> usize {
    let (_, _, channels, buf) = decode(png_path);
    buf.chunks(channels).filter(|p| p[0].abs_diff(c.0) < 6 && p[1].abs_diff(c.1) < 6 && p[2].abs_diff(c.2) < 6).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_renders_in_headless_chromium_with_charts_and_no_script_errors() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_lake, opts, year) = small_city_2022(dir.path()).await;
    write_report(&opts, &year, Policy::Analyst, &dir.path().join("r")).await;
    let page = dir.path().join("r/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for fetch in ["<script", "src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!html.contains(fetch), "self-contained: no scripts, nothing fetched ({fetch})");
    }
    assert!(html.matches("<svg").count() >= 8, "charts are in the page");
    let shot = screenshot(chromium, &page, dir.path(), "shot.png");
    let (blue, red) = chart_pixels(&shot);
    assert!(blue > 2_000 && red > 300, "charts look blank: {blue} blue and {red} red pixels");
}

/// The public report explains its `*` and its rounding on the page: the
/// protection box is drawn (its colours are in the screenshot), every
/// table with suppressed cells says how many and links to the box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_report_explains_suppression_and_rounding_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (_lake, opts, year) = small_city_2022(dir.path()).await;
    let manifest = write_report(&opts, &year, Policy::Public, &dir.path().join("r")).await;
    let d = manifest.disclosure.as_ref().expect("the manifest records disclosure control");
    assert!(d.audit.exposed.is_empty() && d.audit.cells_checked > 0, "{:?}", d.audit);
    assert!(d.suppressed_in_report > 0, "a small city's public report has suppressed cells");
    let page = dir.path().join("r/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("How figures are protected"));
    assert!(html.contains("rounded to the nearest 5"));
    assert!(html.contains(&format!("{} suppressed in this report", d.suppressed_in_report)));
    assert!(html.contains("shown as * (suppressed: <a href=\"#protection\">why</a>)"));
    assert!(html.contains("<td>*</td>"), "suppressed cells are in the tables");
    eprintln!(
        "public report: {} count cells suppressed ({} small, {} secondary over all years)",
        d.suppressed_in_report, d.primary, d.secondary
    );
    let Some(chromium) = chromium() else { return };
    let shot = screenshot(chromium, &page, dir.path(), "public.png");
    let (box_fill, box_border) = (pixels(&shot, (0xff, 0xf4, 0xd6)), pixels(&shot, (0xe0, 0xa8, 0x00)));
    assert!(box_fill > 20_000 && box_border > 500, "the protection box is not drawn: {box_fill} fill and {box_border} border pixels");
}

/// Pages of a PDF as PNGs at `dpi` (poppler's pdftoppm), and the page size
/// line of `pdfinfo`.
fn pdf_pages(pdf: &Path, dpi: u32) -> (Vec<std::path::PathBuf>, String) {
    let info = std::process::Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (poppler-utils) runs");
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let prefix = pdf.with_extension("");
    let out = std::process::Command::new("pdftoppm").args(["-r", &dpi.to_string(), "-png"]).arg(pdf).arg(&prefix).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = pdf.parent().unwrap();
    let stem = prefix.file_name().unwrap().to_string_lossy().into_owned();
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{stem}-")))
        .collect();
    pages.sort();
    (pages, info)
}

/// Pixels that are not (near) white in the outer `band` pixels of each
/// edge of a page: content cut off at the paper's edge lands there, in
/// what the stylesheet keeps as margin.
fn ink_in_margins(png_path: &Path, band: usize) -> usize {
    let (w, h, ch, buf) = decode(png_path);
    let mut ink = 0;
    for y in 0..h {
        for x in 0..w {
            if x < band || x >= w - band || y < band || y >= h - band {
                let p = &buf[(y * w + x) * ch..(y * w + x) * ch + 3];
                ink += usize::from(p.iter().any(|c| *c < 235));
            }
        }
    }
    ink
}

/// The public report reads as a published review: a headline in words for
/// each measure with a year-on-year figure, definitions folded away,
/// suppressed chart points marked and explained, every chart with a table
/// of its figures; it passes axe-core's WCAG 2.1 AA rules in Chromium and
/// prints on A4 with nothing cut off at the paper's edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_report_reads_as_a_review_is_accessible_and_prints_on_a4() {
    let dir = tempfile::tempdir().unwrap();
    let (_lake, opts, year) = small_city_2022(dir.path()).await;
    write_report(&opts, &year, Policy::Public, &dir.path().join("r")).await;
    let page = dir.path().join("r/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let h1 = html.split("<p class=\"headline\">").nth(1).and_then(|s| s.split("</p>").next()).expect("a headline");
    assert!(h1.starts_with("Serious violence offences, 2022/23: "), "{h1}");
    assert!(h1.contains(" in 2021/22.") && h1.ends_with("Counts rounded to the nearest 5."), "the change on last year: {h1}");
    // Three years in words, from the published rows themselves.
    let mut years: Vec<(String, String)> = csv::Reader::from_path(dir.path().join("r/h1.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[1] == "financial_year" && &r[3] == "focus" && &r[5] == "total" && r[0] <= *year.to_string())
        .map(|r| (r[0].to_string(), r[6].to_string()))
        .collect();
    years.sort();
    assert!(years.len() >= 3, "the small city has three years up to {year}: {years:?}");
    let say = |(p, v): &(String, String)| if v == "*" { format!("suppressed in {p}") } else { format!("{v} in {p}") };
    let t = &years[years.len() - 3..];
    let want = format!("Over three years: {}, {} and {}", say(&t[0]), say(&t[1]), say(&t[2]));
    assert!(h1.contains(&want), "{want}\n{h1}");
    // Measures without a previous-year column are said in words too, with
    // their change on the year before from the published rows.
    for view in ["measure_h5", "measure_v1", "measure_v2", "measure_y1", "measure_p1", "measure_k1", "measure_a1", "measure_c1"] {
        let section = html.split(&format!("<section id=\"{view}\">")).nth(1).and_then(|s| s.split("</section>").next()).unwrap();
        let line = section.split("<p class=\"headline\">").nth(1).and_then(|s| s.split("</p>").next());
        let line = line.unwrap_or_else(|| panic!("{view} has no headline"));
        let said = match view {
            // Commitments are not people: not rounded, and not said to be.
            "measure_k1" => !line.contains("rounded"),
            _ => line.ends_with("Counts rounded to the nearest 5.") || line.contains(") is suppressed: a small count"),
        };
        assert!(line.contains(&format!(", {year}: ")) && said, "{view}: {line}");
        eprintln!("{view}: {line}");
    }
    assert!(html.matches("<details><summary>About this measure</summary>").count() >= 20, "definitions are folded");
    assert!(!html.contains("overflow-x"), "tables wrap rather than scroll");
    assert_eq!(html.matches("<svg").count(), html.matches("<summary>Chart data</summary>").count(), "a table for every chart");
    assert!(html.contains("*<title>") && html.contains("* suppressed: a small count"), "suppressed points are marked and explained");
    let Some(chromium) = chromium() else { return };

    // axe-core, run in Chromium by playwright-core (scripts/test installs both).
    match std::env::var_os("VRU_TEST_NODE_TOOLS") {
        Some(tools) => {
            let script = Path::new(&tools).join("axe.mjs");
            std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/axe.mjs"), &script).unwrap();
            let which = std::process::Command::new("sh").args(["-c", &format!("command -v {chromium}")]).output().unwrap();
            let exe = String::from_utf8_lossy(&which.stdout).trim().to_string();
            let out = std::process::Command::new("node").arg(&script).arg(format!("file://{}", page.display())).arg(&exe).output().unwrap();
            assert!(out.status.success(), "axe: {}", String::from_utf8_lossy(&out.stderr));
            let axe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(axe["violations"], serde_json::json!([]), "WCAG 2.1 AA violations: {axe}");
            assert!(axe["page_width"].as_u64().is_some_and(|w| w <= 1200), "the page scrolls sideways in a 1200 px window: {axe}");
            eprintln!("axe-core: 0 violations, {} rules passed; page {} px wide in a 1200 px window", axe["passes"], axe["page_width"]);
        }
        None => {
            assert!(
                std::env::var_os("VRU_REQUIRE_BROWSER").is_none(),
                "VRU_TEST_NODE_TOOLS (axe-core, playwright-core) is required: scripts/test installs them"
            );
            eprintln!("SKIPPED the accessibility check: VRU_TEST_NODE_TOOLS not set");
        }
    }

    // Printed: A4, and no page with ink in its outer margin.
    let pdf = dir.path().join("print.pdf");
    let out = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile-print").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(pdf.exists(), "no PDF: {}", String::from_utf8_lossy(&out.stderr));
    if std::process::Command::new("pdftoppm").arg("-v").output().is_err() {
        assert!(std::env::var_os("VRU_REQUIRE_BROWSER").is_none(), "pdftoppm (poppler-utils) is required");
        return;
    }
    let (pages, info) = pdf_pages(&pdf, 50);
    assert!(info.contains("(A4)"), "{info}");
    assert!(pages.len() >= 3, "{} pages", pages.len());
    // 50 dpi: the 12 mm side and 14 mm top and bottom margins are 23 and
    // 27 pixels; a cut-off table or chart would reach into the outer 12.
    for p in &pages {
        assert_eq!(ink_in_margins(p, 12), 0, "content cut off at the edge of {}", p.display());
    }
    eprintln!("print: {} A4 pages, none with content in the outer margin", pages.len());
}
