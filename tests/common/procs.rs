//! The `vru` binary as separate processes, for fault tests that kill them
//! the way an operating system or an operator would (SIGKILL, SIGINT), which
//! an in-process task abort cannot imitate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vru_ingest::lake::Lake;

/// One deployment: a data directory, a broker and a topic prefix of its own.
pub struct Deployment {
    pub data: PathBuf,
    pub brokers: String,
    pub prefix: String,
    pub env: Vec<(String, String)>,
    /// The lake's address when it is not `<data>/lake` (an `s3://` one).
    pub lake_address: Option<String>,
}

impl Deployment {
    pub fn new(data: &Path, brokers: &str, test: &str) -> Self {
        let prefix = format!("f{}-{test}", std::process::id());
        Deployment { data: data.to_path_buf(), brokers: brokers.to_string(), prefix, env: Vec::new(), lake_address: None }
    }

    /// Extra `VRU_*` settings, e.g. `("NORMALISER__MAX_BATCH_AGE_MS", "200")`.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.env.push((format!("VRU_{key}"), value.to_string()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vru"));
        c.arg("--data-dir").arg(&self.data).args(args);
        c.env("VRU_KAFKA__BROKERS", &self.brokers)
            .env("VRU_KAFKA__TOPIC_PREFIX", &self.prefix)
            .env("VRU_LOG", "warn,vru=info,vru_ingest=info");
        // Short batches and retries, so faults land between commits.
        c.env("VRU_NORMALISER__MAX_BATCH_AGE_MS", "300").env("VRU_NORMALISER__MAX_BATCH_ROWS", "5000");
        c.env("VRU_NORMALISER__MAX_RETRY_BACKOFF_MS", "1000");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs to the end; panics with its stderr if it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("vru runs");
        assert!(out.status.success(), "vru {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Starts in the background, stderr to `<data>/<log>`.
    pub fn spawn(&self, args: &[&str], log: &str) -> Child {
        std::fs::create_dir_all(&self.data).unwrap();
        let err = std::fs::OpenOptions::new().create(true).append(true).open(self.data.join(log)).unwrap();
        self.command(args).stdout(Stdio::null()).stderr(err).spawn().expect("vru starts")
    }

    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.data.join(log)).unwrap_or_default()
    }

    pub fn lake(&self) -> PathBuf {
        self.data.join("lake")
    }

    /// Every process of the deployment on the lake `lake` (an `s3://`
    /// address; the store from the `AWS_*` variables).
    pub fn on_lake(mut self, address: &str) -> Self {
        self.env.push(("VRU_LAKE".into(), address.to_string()));
        self.lake_address = Some(address.to_string());
        self
    }

    /// The deployment's lake, to read in the test.
    pub fn handle(&self) -> Lake {
        match &self.lake_address {
            Some(a) => Lake::at(a).expect("the lake's address"),
            None => Lake::new(self.lake()),
        }
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} {}", child.id());
}

/// Waits for a child to exit, panicking after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `probe` until it returns true, panicking after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Rows in every event table of the lake, summed.
pub async fn lake_rows(lake: &Path) -> i64 {
    lake_rows_of(&Lake::new(lake)).await
}

pub async fn lake_rows_of(lake: &Lake) -> i64 {
    super::event_counts_of(lake).await.iter().map(|(_, n)| n).sum()
}

/// A broker of our own (not the shared one), for tests that stop it.
pub struct OwnBroker {
    pub dir: PathBuf,
    pub storage: String,
    pub port: Option<String>,
}

impl OwnBroker {
    pub fn start(dir: &Path, storage: &str) -> Self {
        let mut b = OwnBroker { dir: dir.to_path_buf(), storage: storage.to_string(), port: None };
        b.up();
        b
    }

    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/broker")
    }

    pub fn up(&mut self) {
        let mut c = Command::new(Self::script());
        c.args(["start", self.dir.to_str().unwrap(), &self.storage]);
        if let Some(p) = &self.port {
            c.env("PORT", p);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "broker start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = std::fs::read_to_string(self.dir.join("brokers")).unwrap().trim().to_string();
        self.port = Some(addr.rsplit(':').next().unwrap().to_string());
    }

    pub fn down(&self) {
        Command::new(Self::script()).args(["stop", self.dir.to_str().unwrap()]).status().unwrap();
        // The port is reused on restart: wait until it is closed.
        let addr = self.address();
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("broker on {addr} did not stop");
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port.as_deref().unwrap())
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        Command::new(Self::script()).args(["stop", self.dir.to_str().unwrap()]).status().ok();
    }
}

/// nisshi installed (scripts/broker install)? Else the test is skipped,
/// unless scripts/test said a broker is required.
pub fn nisshi_available() -> bool {
    let ok = Command::new("nisshi").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("VRU_REQUIRE_BROKER").is_none(), "nisshi is not installed: scripts/broker install");
        eprintln!("SKIPPED: nisshi not installed (scripts/broker install)");
    }
    ok
}
