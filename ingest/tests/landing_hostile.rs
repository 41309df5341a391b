//! The landing folder against what partners' upload tools, operating
//! systems and careless or hostile users leave in it. Each test sweeps a
//! landing folder of several partners once (`ingest_landing`, as `vru run`
//! does) and asserts what must never happen: a sweep that stops or hangs,
//! a file published without a receipt, anything read through a link or
//! written outside the root, a forged receipt believed. Every file either
//! has a receipt and is moved, or is left in place with nothing of it
//! published.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use vru_ingest::extract::ExtractRules;
use vru_ingest::landing::{PROCESSED, REJECTED};
use vru_ingest::pipeline::{LandingOptions, ingest_landing};
use vru_ingest::sink::VecSink;
use vru_model::classification::Catalogue;
use vru_model::receipt::{Receipt, Status};

fn good_offences(tag: &str) -> String {
    let header = "record_id,record_version,crime_ref,offence_code,committed_at,recorded_date,offence_lsoa,role,person_id,age,sex,home_lsoa,knife_flag,firearm_flag,domestic_flag,outcome,outcome_date";
    let mut s = format!("{header}\n");
    for i in 0..5 {
        let h = |k: &str| {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(format!("{tag}{k}{i}").as_bytes()))
        };
        s.push_str(&format!(
            "R-{i:02},1,{},8N,2024-02-1{i} 21:15,2024-02-2{i},E0101000{i},victim,{},20,F,E0102000{i},N,N,,,\n",
            h("c"),
            h("p")
        ));
    }
    s
}

fn good_attendances(tag: &str) -> String {
    let header = "record_id,record_version,site_code,arrival_at,assault_at,assault_method,location_type,location_description,patient_id,age,sex,home_lsoa";
    let mut s = format!("{header}\n");
    for i in 0..5 {
        use sha2::{Digest, Sha256};
        let p = hex::encode(Sha256::digest(format!("{tag}{i}").as_bytes()));
        s.push_str(&format!("R-{i:02},1,RW3,2024-02-0{} 23:10,,body_part,home,,{p},19,F,E0104000{i}\n", i + 1));
    }
    s
}

/// A landing folder under a temporary directory, with an `outside` sibling
/// that nothing may touch.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new() -> Folder {
        let f = Folder { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(f.root()).unwrap();
        std::fs::create_dir_all(f.outside()).unwrap();
        std::fs::write(f.outside().join("secret.csv"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        f
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("landing")
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn partner(&self, p: &str) -> PathBuf {
        let d = self.root().join(p);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn drop_file(&self, partner: &str, name: impl AsRef<OsStr>, text: &str) -> PathBuf {
        let p = self.partner(partner).join(name.as_ref());
        std::fs::write(&p, text).unwrap();
        p
    }

    /// One sweep (`--once`), on a thread that must finish in time.
    fn sweep(&self) -> (Vec<Receipt>, VecSink) {
        let root = self.root();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let opts = LandingOptions { root, once: true, settle: Duration::ZERO, poll: Duration::from_millis(10) };
            let mut sink = VecSink::default();
            let r = ingest_landing(&opts, &mut sink, &ExtractRules::default(), &Catalogue::builtin(), &AtomicBool::new(false), None);
            let _ = tx.send((r, sink));
        });
        let (r, sink) = rx.recv_timeout(Duration::from_secs(60)).expect("the sweep hung");
        (r.expect("a sweep never fails for a bad file"), sink)
    }

    fn outside_untouched(&self) {
        let names: BTreeSet<_> = std::fs::read_dir(self.outside()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 1, "nothing written outside the landing root: {names:?}");
        assert_eq!(std::fs::read_to_string(self.outside().join("secret.csv")).unwrap(), "root:x:0:0:root:/root:/bin/bash\n");
    }
}

fn filed(partner_dir: &Path, sub: &str, name: &str) -> bool {
    partner_dir.join(sub).join(name).exists() && partner_dir.join(sub).join(format!("{name}.receipt.json")).is_file()
}

fn published(sink: &VecSink, partner: &str) -> usize {
    sink.events.iter().filter(|e| e.envelope.partner == partner && e.envelope.kind != vru_model::Kind::ExtractReceipt).count()
}

#[test]
fn a_plain_file_named_processed_or_rejected_stops_only_that_partner() {
    let f = Folder::new();
    f.drop_file("police-a", "processed", "not a folder");
    let a = f.drop_file("police-a", "offences_1.csv", &good_offences("a"));
    f.drop_file("ae-b", "rejected", "not a folder either");
    let b = f.drop_file("ae-b", "attendances_1.csv", &good_attendances("b"));
    let c = f.drop_file("police-c", "offences_1.csv", &good_offences("c"));
    let (receipts, sink) = f.sweep();
    // A and B are left in place, nothing of them published; C goes through.
    assert!(a.exists() && b.exists());
    assert_eq!((published(&sink, "police-a"), published(&sink, "ae-b")), (0, 0));
    assert!(!c.exists() && filed(&f.root().join("police-c"), PROCESSED, "offences_1.csv"));
    assert_eq!(published(&sink, "police-c"), 5);
    assert_eq!(receipts.len(), 1);
}

#[test]
fn pipes_and_links_are_refused_without_being_opened() {
    let f = Folder::new();
    let p = f.partner("police-a");
    std::fs::create_dir_all(p.join(PROCESSED)).unwrap();
    // A FIFO where a receipt would be, and one named like an extract.
    for fifo in [p.join(PROCESSED).join("offences_0.csv.receipt.json"), p.join("offences_fifo.csv")] {
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    // A link to a file outside, and a link to a folder.
    std::os::unix::fs::symlink(f.outside().join("secret.csv"), p.join("offences_link.csv")).unwrap();
    std::os::unix::fs::symlink(f.outside(), p.join("offences_dir.csv")).unwrap();
    f.drop_file("police-a", "offences_good.csv", &good_offences("a"));
    let (receipts, sink) = f.sweep();
    assert_eq!(published(&sink, "police-a"), 5);
    for name in ["offences_fifo.csv", "offences_link.csv", "offences_dir.csv"] {
        assert!(filed(&p, REJECTED, name), "{name} refused with a receipt");
        let r = receipts.iter().find(|r| r.file == name).unwrap();
        assert_eq!(r.status, Status::Rejected);
        assert!(r.sha256.is_empty(), "never read: {r:?}");
    }
    let text: String = receipts.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    assert!(!text.contains("root:x"), "the linked file was never read");
    assert!(std::fs::symlink_metadata(p.join(REJECTED).join("offences_link.csv")).unwrap().file_type().is_symlink());
    f.outside_untouched();
}

#[test]
fn names_too_long_odd_or_telling_are_refused_under_a_safe_name() {
    let f = Folder::new();
    let p = f.partner("police-a");
    let long = format!("offences_{}.csv", "x".repeat(232)); // 245 bytes: legal, too long for its receipt
    f.drop_file("police-a", &long, &good_offences("a1"));
    f.drop_file("police-a", "offences_a\nb.csv", &good_offences("a2"));
    f.drop_file("police-a", OsStr::from_bytes(b"offences_\xff\xfe.csv"), &good_offences("a3"));
    f.drop_file("police-a", "offences_9434765919.csv", &good_offences("a4"));
    f.drop_file("police-a", "offences_2024.xlsx", "PK\x03\x04");
    let (receipts, sink) = f.sweep();
    assert_eq!(published(&sink, "police-a"), 5, "only the file named with an NHS number is read (under a withheld name)");
    assert_eq!(receipts.len(), 5);
    let rejected: Vec<String> =
        std::fs::read_dir(p.join(REJECTED)).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    for name in &rejected {
        assert!(name.len() < 100 && !name.contains('\n') && !name.contains("9434765919"), "{name}");
    }
    let text: String = receipts.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    assert!(!text.contains("9434765919") && !text.contains(&"x".repeat(200)), "{text}");
    assert!(std::fs::read_dir(&p).unwrap().flatten().all(|e| e.file_type().unwrap().is_dir()), "every file was filed away");
}

#[test]
fn half_uploaded_files_are_left_alone() {
    let f = Folder::new();
    let p = f.partner("police-a");
    let names = [
        "offences_1.csv.TMP",
        "offences_2.csv.filepart",
        "offences_3.csv.crdownload",
        "~$offences_4.csv",
        ".offences_5.csv",
        "offences_6.csv.part",
        "offences_7.CSV.tmp",
    ];
    for n in names {
        f.drop_file("police-a", n, &good_offences(n));
    }
    let (receipts, sink) = f.sweep();
    assert!(receipts.is_empty() && sink.events.is_empty());
    for n in names {
        assert!(p.join(n).is_file(), "{n} left in place");
    }
}

#[test]
fn a_forged_receipt_does_not_make_a_file_a_duplicate() {
    let f = Folder::new();
    let p = f.partner("police-a");
    let text = good_offences("real");
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(text.as_bytes()))
    };
    std::fs::create_dir_all(p.join(PROCESSED)).unwrap();
    let forged = serde_json::json!({"file": "offences_old.csv", "partner": "police-a", "extract_kind": "offences", "sha256": sha, "bytes": 1,
        "extract_date": "2024-01-01", "started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:00:00Z", "status": "accepted",
        "rows_read": 5, "rows_published": 5, "rows_rejected": 0, "rows_duplicate": 0, "issues": [], "issues_total": 0, "confirmed_by": "x"});
    std::fs::write(p.join(PROCESSED).join("offences_old.csv.receipt.json"), forged.to_string()).unwrap();
    f.drop_file("police-a", "offences_1.csv", &text);
    let (receipts, sink) = f.sweep();
    assert_eq!(receipts[0].status, Status::Accepted);
    assert_eq!(published(&sink, "police-a"), 5);
}

#[test]
fn a_processed_folder_that_is_a_link_is_never_written_through() {
    let f = Folder::new();
    let p = f.partner("police-a");
    std::os::unix::fs::symlink(f.outside(), p.join(PROCESSED)).unwrap();
    let a = f.drop_file("police-a", "offences_1.csv", &good_offences("a"));
    f.drop_file("police-b", "offences_1.csv", &good_offences("b"));
    let (_, sink) = f.sweep();
    assert!(a.exists());
    assert_eq!((published(&sink, "police-a"), published(&sink, "police-b")), (0, 5));
    f.outside_untouched();
}

#[test]
fn directories_named_like_extracts_are_ignored() {
    let f = Folder::new();
    let p = f.partner("police-a");
    std::fs::create_dir_all(p.join("offences_1.csv")).unwrap();
    std::fs::create_dir_all(f.root().join("not-a-partner")).unwrap();
    std::fs::write(f.root().join("stray.csv"), "x").unwrap();
    f.drop_file("police-a", "offences_2.csv", &good_offences("a"));
    let (receipts, sink) = f.sweep();
    assert_eq!(published(&sink, "police-a"), 5);
    assert!(p.join("offences_1.csv").is_dir());
    // The stray top-level file is not a partner's; the unknown partner's
    // folder has no files.
    assert_eq!(receipts.len(), 1);
}

fn sh(args: &[&str]) -> bool {
    std::process::Command::new(args[0]).args(&args[1..]).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Root-only tests (mount, chattr): CI runs as root; elsewhere they say so
/// and pass.
fn privileged(what: &str, ok: bool) -> bool {
    if !ok {
        eprintln!("skipping {what}: needs root (mount, chattr)");
    }
    ok
}

#[test]
fn a_full_disk_leaves_files_in_place_with_nothing_published() {
    let f = Folder::new();
    let root = f.root();
    if !privileged("the full-disk landing test", sh(&["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", root.to_str().unwrap()])) {
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            sh(&["umount", "-l", self.0.to_str().unwrap()]);
        }
    }
    let _mounted = Unmount(root.clone());
    let a = f.drop_file("police-a", "offences_1.csv", &good_offences("a"));
    // Ballast: leave less room than a receipt reservation.
    let ballast = root.join("ballast");
    let free = {
        let c = std::ffi::CString::new(root.as_os_str().as_bytes()).unwrap();
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        s.f_bavail as usize * s.f_frsize as usize
    };
    std::fs::write(&ballast, vec![0u8; free.saturating_sub(64 * 1024)]).unwrap();
    let (receipts, sink) = f.sweep();
    assert!(receipts.is_empty() && sink.events.is_empty(), "nothing published without room for its receipt");
    assert!(a.is_file());
    // Room again: the next sweep files it.
    std::fs::remove_file(&ballast).unwrap();
    let (receipts, sink) = f.sweep();
    assert_eq!((receipts.len(), published(&sink, "police-a")), (1, 5));
    assert!(filed(&root.join("police-a"), PROCESSED, "offences_1.csv"));
}

#[test]
fn an_immutable_partner_folder_leaves_its_files_in_place() {
    let f = Folder::new();
    let p = f.partner("police-a");
    std::fs::create_dir_all(p.join(PROCESSED)).unwrap();
    std::fs::create_dir_all(p.join(REJECTED)).unwrap();
    let a = f.drop_file("police-a", "offences_1.csv", &good_offences("a"));
    f.drop_file("police-b", "offences_1.csv", &good_offences("b"));
    if !privileged("the read-only landing test", sh(&["chattr", "+i", p.join(PROCESSED).to_str().unwrap()])) {
        return;
    }
    let (_, sink) = f.sweep();
    sh(&["chattr", "-i", p.join(PROCESSED).to_str().unwrap()]);
    assert!(a.is_file());
    assert_eq!((published(&sink, "police-a"), published(&sink, "police-b")), (0, 5));
}
