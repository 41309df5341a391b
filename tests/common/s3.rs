//! The S3-compatible store scripts/test starts (`scripts/s3`, moto): each
//! test gets a lake under a prefix of its own, found through the standard
//! `AWS_*` variables like any deployment's.

use futures::StreamExt;
use std::path::Path;
use vru_ingest::lake::Lake;
use vru_ingest::lake::deltalake::logstore::object_store::ObjectStore;

pub struct S3 {
    pub bucket: String,
}

impl S3 {
    /// `None` (the test skips) when no store is configured; with
    /// `VRU_REQUIRE_S3` set (scripts/test) a missing store fails instead.
    pub fn from_env() -> Option<S3> {
        match std::env::var("VRU_TEST_S3_BUCKET") {
            Ok(bucket) if std::env::var_os("AWS_ENDPOINT_URL").is_some() => Some(S3 { bucket }),
            _ => {
                assert!(
                    std::env::var_os("VRU_REQUIRE_S3").is_none(),
                    "VRU_REQUIRE_S3 is set but no S3 store is configured: scripts/s3 start DIR, then export its AWS_* variables"
                );
                eprintln!("SKIPPED: no S3 store (scripts/test starts one with scripts/s3)");
                None
            }
        }
    }

    /// A fresh address, `s3://bucket/<test>-<pid>-<nanos>`.
    pub fn address(&self, test: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        format!("s3://{}/{test}-{}-{nanos}", self.bucket, std::process::id())
    }

    pub fn lake(&self, test: &str) -> Lake {
        Lake::at(&self.address(test)).expect("an s3 address")
    }
}

/// Every key under the lake's root, relative to it.
pub async fn keys(lake: &Lake) -> Vec<String> {
    let store = lake.store().expect("the lake's store");
    let mut out: Vec<String> = store.list(None).map(|m| m.expect("listing").location.to_string()).collect().await;
    out.sort();
    out
}

/// Where a scenario's lake lives.
pub enum LakeAt {
    Local,
    S3(S3),
}

impl LakeAt {
    /// Added to a scenario's topic prefix, so the same scenario on a local
    /// and an S3 lake against one broker never shares topics.
    pub fn tag(&self) -> &'static str {
        match self {
            LakeAt::Local => "",
            LakeAt::S3(_) => "-s3",
        }
    }

    pub fn lake(&self, dir: &Path, test: &str) -> Lake {
        match self {
            LakeAt::Local => Lake::new(dir.join("lake")),
            LakeAt::S3(s3) => s3.lake(test),
        }
    }
}

/// Copies a local lake, file by file, under an S3 lake's root (the Delta
/// log names files relative to the table, so the copy is the same lake).
pub async fn upload(from: &Path, to: &Lake) {
    use vru_ingest::lake::deltalake::logstore::object_store::{ObjectStoreExt as _, path::Path as Key};
    let store = to.store().expect("the lake's store");
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(from).unwrap().to_string_lossy().into_owned();
                store.put(&Key::from(rel), std::fs::read(&p).unwrap().into()).await.unwrap();
            }
        }
    }
}
