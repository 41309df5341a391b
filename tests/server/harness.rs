//! What tests/server_adversarial.rs needs around a running `vru serve`:
//! one small lake built once, servers started as separate processes (so
//! their memory and CPU can be read from /proc), psql and the Python
//! clients of tests/server/hostile.py, the audit log, and a raw socket for
//! what no well-behaved client would send.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;
use vru_server::audit::{self, Record};

pub const PASSWORD: &str = "correct-horse-battery";

/// psql and python3 with psycopg: required when `VRU_REQUIRE_INTEROP` is
/// set (scripts/test installs them), else the test is skipped.
pub fn clients_available() -> bool {
    let psql = Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success());
    let python = Command::new("python3").args(["-c", "import psycopg"]).status().is_ok_and(|s| s.success());
    if psql && python {
        return true;
    }
    assert!(std::env::var_os("VRU_REQUIRE_INTEROP").is_none(), "psql and python3 with psycopg are required: scripts/test installs them");
    eprintln!("SKIPPED: psql or python3 psycopg not installed");
    false
}

/// Figures for the note, printed and appended to `<target tmp>/server-adversarial.txt`.
pub fn report(line: &str) {
    eprintln!("REPORT {line}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-adversarial.txt");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A small city's lake, built once for every test of the binary.
pub fn lake() -> &'static Path {
    static LAKE: OnceLock<PathBuf> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let summary = generate(&dir, &small_city(7));
            let lake = Lake::new(dir.join("lake"));
            load_reference(&lake, &summary).await;
            run_landing(&lake, &landing_dir(&summary)).await;
        });
        dir.join("lake")
    })
}

pub fn vru(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vru"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("VRU_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vru runs");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn add_user(data: &Path, name: &str, role: &str, partner: Option<&str>) {
    let mut args = vec!["user", "add", name, "--role", role, "--password-stdin"];
    if let Some(p) = partner {
        args.extend(["--partner", p]);
    }
    let out = vru(data, &args, Some(&format!("{PASSWORD}\n")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A data directory over the shared lake, with users ana (analyst), pat
/// (partner police-northshire) and pub (publisher).
pub fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(lake(), dir.path().join("lake")).unwrap();
    add_user(dir.path(), "ana", "analyst", None);
    add_user(dir.path(), "pat", "partner", Some("police-northshire"));
    add_user(dir.path(), "pub", "publisher", None);
    dir
}

/// A running `vru serve`, stopped when dropped.
pub struct Served {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub host: String,
    pub port: String,
    pub audit: PathBuf,
    log: PathBuf,
}

impl Served {
    /// Starts and waits until the measures are precomputed, so what the
    /// tests measure is theirs alone.
    pub fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let log = data.join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_vru"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .env("VRU_LOG", "warn,vru_server=info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("vru serve runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) else {
            let _ = child.kill();
            panic!("vru serve did not start: {line}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let (host, port) = addr.rsplit_once(':').unwrap();
        let s =
            Served { host: host.to_string(), port: port.to_string(), child, _stdout: stdout, audit: data.join("server/audit.jsonl"), log };
        let start = Instant::now();
        while !s.server_log().contains("measures precomputed") {
            assert!(start.elapsed() < Duration::from_secs(120), "measures not precomputed:\n{}", s.server_log());
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    pub fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.host, self.port).parse().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of /proc/<pid>/status, in kB.
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn rss_mb(&self) -> u64 {
        self.status_kb("VmRSS:") / 1024
    }

    /// Peak RSS since the last [`Self::reset_peak`].
    pub fn peak_mb(&self) -> u64 {
        self.status_kb("VmHWM:") / 1024
    }

    /// Resets the peak (Linux: writing 5 to clear_refs).
    pub fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
    }

    /// CPU time used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        let f: Vec<&str> = after.split_whitespace().collect();
        // utime and stime: fields 14 and 15, 12 and 13 after the name.
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }

    pub fn psql(&self, user: &str, sql: &str) -> Output {
        let mut c = Command::new("psql");
        c.args(["-h", &self.host, "-p", &self.port, "-U", user, "-d", "vru", "-w", "-X", "--csv", "-v", "ON_ERROR_STOP=1", "-f", "-"]);
        c.env("PGPASSWORD", PASSWORD).env("PGCONNECT_TIMEOUT", "10").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("psql runs");
        let mut stdin = child.stdin.take().unwrap();
        let sql = sql.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(sql.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    }

    /// The rows of a query that must succeed (CSV, header first).
    pub fn rows(&self, user: &str, sql: &str) -> Vec<Vec<String>> {
        let out = self.psql(user, sql);
        assert!(out.status.success(), "{sql:.200}: {}\n{}", String::from_utf8_lossy(&out.stderr), self.server_log());
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(out.stdout.as_slice());
        r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
    }

    /// The error of a statement that must fail.
    pub fn refused(&self, user: &str, sql: &str) -> String {
        let out = self.psql(user, sql);
        assert!(!out.status.success(), "{user} was allowed: {sql:.200}\n{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The server is up and answers a new session.
    pub fn assert_alive(&self) {
        self.alive_as("ana");
    }

    /// The same, as `user`.
    pub fn alive_as(&self, user: &str) {
        assert_eq!(self.rows(user, "SELECT 40 + 2 AS answer"), [["answer"], ["42"]], "the server does not answer a new session");
    }

    pub fn python(&self, mode: &str, args: &[&str]) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/hostile.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(mode)
            .args([self.host.as_str(), self.port.as_str()])
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "hostile.py {mode}: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), self.server_log());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn audit_records(&self) -> Vec<Record> {
        audit::read(&self.audit).unwrap_or_default()
    }

    /// The audit log once `pred` holds (records of a closing connection may
    /// land a moment after the client has gone).
    pub fn audit_until(&self, what: &str, pred: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        let start = Instant::now();
        loop {
            let records = self.audit_records();
            if pred(&records) {
                return records;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "audit log lacks {what}:\n{records:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw protocol message: type byte (none for the startup packet), length, body.
pub fn message(kind: Option<u8>, body: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = kind.into_iter().collect();
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

pub fn startup(user: &str) -> Vec<u8> {
    let mut body = vec![0, 3, 0, 0];
    for (k, v) in [("user", user), ("database", "vru")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    message(None, &body)
}

/// Reads one backend message: (type, body).
pub fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
    let mut body = vec![0; len.saturating_sub(4)];
    s.read_exact(&mut body)?;
    Ok((head[0], body))
}

/// Logs in over a raw socket (SCRAM-SHA-256); returns the socket ready for
/// queries, or the server's first answer when it is an error.
pub fn raw_login(addr: SocketAddr, user: &str, password: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&startup(user)).unwrap();
    let (_kind, _mechanisms) = read_message(&mut s).map_err(|e| e.to_string())?;
    let bare = format!("n=,r={}", vru_server::scram::random_nonce());
    let first = format!("n,,{bare}");
    let mut init = b"SCRAM-SHA-256\0".to_vec();
    init.extend_from_slice(&(first.len() as i32).to_be_bytes());
    init.extend_from_slice(first.as_bytes());
    s.write_all(&message(Some(b'p'), &init)).unwrap();
    let (kind, body) = read_message(&mut s).map_err(|e| e.to_string())?;
    if kind == b'E' {
        return Err(String::from_utf8_lossy(&body).into_owned());
    }
    let server_first = String::from_utf8_lossy(&body[4..]).into_owned();
    let nonce = server_first.split(',').next().unwrap().trim_start_matches("r=");
    let without_proof = format!("c=biws,r={nonce}");
    let proof = vru_server::scram::client_proof(password, &bare, &server_first, &without_proof);
    s.write_all(&message(Some(b'p'), format!("{without_proof},p={proof}").as_bytes())).unwrap();
    loop {
        let (kind, body) = read_message(&mut s).map_err(|e| e.to_string())?;
        match kind {
            b'Z' => return Ok(s),
            b'E' => return Err(String::from_utf8_lossy(&body).into_owned()),
            _ => {}
        }
    }
}

/// The salt the server offers `user` in its first SCRAM message.
pub fn scram_salt(addr: SocketAddr, user: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&startup(user)).unwrap();
    read_message(&mut s).unwrap();
    let first = format!("n,,n=,r={}", vru_server::scram::random_nonce());
    let mut init = b"SCRAM-SHA-256\0".to_vec();
    init.extend_from_slice(&(first.len() as i32).to_be_bytes());
    init.extend_from_slice(first.as_bytes());
    s.write_all(&message(Some(b'p'), &init)).unwrap();
    let (_, body) = read_message(&mut s).unwrap();
    let text = String::from_utf8_lossy(&body[4..]).into_owned();
    text.split(',').find_map(|a| a.strip_prefix("s=")).unwrap().to_string()
}

/// Writes `total` bytes of a message declared `declared` bytes long after
/// `prefix`; returns how many were accepted before the server closed.
pub fn stream_oversized(s: &mut TcpStream, kind: u8, declared: u32, total: usize) -> usize {
    let mut head = vec![kind];
    head.extend_from_slice(&declared.to_be_bytes());
    if s.write_all(&head).is_err() {
        return 0;
    }
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    while sent < total {
        match s.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent
}
