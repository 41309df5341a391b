//! The promise, tested end to end as an operator would run it: the whole
//! hostile corpus dropped into a landing folder, `vru run --once` as a
//! separate process with every log level on, then every receipt, every
//! quarantine file, stdout, stderr and every row of every lake table
//! searched for each identifier planted in the corpus
//! (`tests/hostile/planted.tsv`), in any case or spacing. The partners' own
//! files, moved to `processed/` and `rejected/`, are theirs and not searched.

mod common;

use std::path::{Path, PathBuf};
use vru_model::tables::Table;
use vru_queries::datafusion::arrow::util::display::array_value_to_string;

/// Text as searched: lower-case, and again without whitespace.
fn searchable(s: &str) -> String {
    let lower = s.to_lowercase();
    let joined: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    format!("{lower}\n{joined}")
}

/// The forms a planted value could take once written out: as planted, in
/// lower case, without spaces, and without separators (`943-476-5919`)
/// when that is still long enough not to turn up by chance in hex ids.
fn forms(v: &str) -> Vec<String> {
    let lower = v.to_lowercase();
    let bare: String = lower.chars().filter(|c| !" .-/".contains(*c)).collect();
    let mut out = vec![lower.clone(), lower.replace(' ', "")];
    if bare.len() >= 10 {
        out.push(bare);
    }
    out.dedup();
    out
}

fn planted() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/planted.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split_once('\t').map(|(f, v)| (f.to_string(), v.to_string())).unwrap())
        .collect()
}

/// Every file under `dir` we wrote (receipts, quarantine files, the lake's
/// logs and checkpoints), not the partners' own extracts.
fn our_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            our_files(&p, out);
        } else if ft.is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            let in_partner_area = p.components().any(|c| c.as_os_str() == "processed" || c.as_os_str() == "rejected");
            let partners_own = in_partner_area && !(name.ends_with(".receipt.json") || name.ends_with(".rejected-rows.csv"));
            if !partners_own && !name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_corpus_leaves_no_identifier_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let landing = data.join("landing");
    common::copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile"), &landing);
    for stray in ["README.md", "planted.tsv"] {
        std::fs::remove_file(landing.join(stray)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vru"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--once"])
        .env("VRU_LOG", "trace,rdkafka=info,h2=info,hyper=info")
        .env("VRU_LANDING__SETTLE_MS", "0")
        .output()
        .expect("vru runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stdout.lines().count() > 120, "a receipt line per file: {stdout}");

    let mut texts = vec![("stdout".to_string(), searchable(&stdout)), ("stderr".to_string(), searchable(&stderr))];
    let mut files = Vec::new();
    our_files(&data, &mut files);
    assert!(files.iter().filter(|p| p.to_string_lossy().ends_with(".receipt.json")).count() >= 120);
    for f in &files {
        texts.push((f.display().to_string(), searchable(&String::from_utf8_lossy(&std::fs::read(f).unwrap()))));
    }
    // Every value of every row of every table, as text (Parquet is compressed).
    let session = common::session(&data.join("lake"), vec![]).await;
    let mut lake = String::new();
    for t in Table::ALL {
        for b in session.ctx.sql(&format!("SELECT * FROM {}_log", t.name())).await.unwrap().collect().await.unwrap() {
            for c in b.columns() {
                for i in 0..c.len() {
                    lake.push_str(&array_value_to_string(c, i).unwrap());
                    lake.push(' ');
                }
            }
        }
    }
    assert!(lake.len() > 10_000, "the good files reached the lake");
    texts.push(("the lake".to_string(), searchable(&lake)));
    let planted = planted();
    assert!(planted.len() >= 40);
    for (file, value) in &planted {
        for (what, text) in &texts {
            for form in forms(value) {
                assert!(!text.contains(&form), "`{value}` planted in {file} appears in {what} as `{form}`");
            }
        }
    }
}
