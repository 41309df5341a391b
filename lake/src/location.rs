//! Where the lake lives: a local directory, or a prefix of an
//! S3-compatible bucket (`s3://bucket/prefix`), so that normalisers, SQL
//! replicas and scheduled jobs on several machines can share one lake.
//!
//! Credentials and the endpoint come from the standard `AWS_*` environment
//! variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP` ...), never from the lake's address, so an address in a
//! log or an error message carries no secret.
//!
//! Concurrent commits stay safe on S3: Delta's default log store writes each
//! commit with `If-None-Match: *`, which S3 (and every S3-compatible store
//! that supports conditional writes) refuses when the version exists, so two
//! writers can never both create version N. No lock table is needed.

use crate::LakeError;
use deltalake::DeltaResult;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake::{ObjectStore, Path as StorePath};
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use url::Url;

/// A lake's root: a directory or an object-store prefix.
#[derive(Debug, Clone)]
pub enum Location {
    Local(PathBuf),
    /// Always ends with `/`, so that `join(table)` stays under the prefix.
    Remote(Url),
}

impl Location {
    /// `s3://bucket/prefix` (or `s3a://`), `file:///dir`, or a plain path.
    /// Any other scheme is refused rather than read as a relative path.
    pub fn parse(s: &str) -> Result<Location, LakeError> {
        let bad = |reason: String| LakeError::Location { location: redacted(s), reason };
        match s.split_once("://") {
            None => Ok(Location::Local(PathBuf::from(s))),
            Some(("file", _)) => {
                let url = Url::parse(s).map_err(|e| bad(e.to_string()))?;
                url.to_file_path().map(Location::Local).map_err(|()| bad("not a local path".into()))
            }
            Some(("s3" | "s3a", _)) => {
                let mut url = Url::parse(s).map_err(|e| bad(e.to_string()))?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(bad("no bucket: write s3://bucket/prefix".into()));
                }
                if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
                    // Secrets belong in AWS_* variables, not in an address
                    // that ends up in logs and manifests.
                    return Err(bad("credentials and options go in AWS_* environment variables, not in the address".into()));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                register_s3();
                Ok(Location::Remote(url))
            }
            Some((scheme, _)) => Err(bad(format!("unsupported scheme {scheme}: use a directory or s3://bucket/prefix"))),
        }
    }

    /// A table's address, for Delta.
    pub fn table_url(&self, name: &str) -> Result<Url, LakeError> {
        let bad = |reason: String| LakeError::Location { location: self.to_string(), reason };
        match self {
            Location::Local(root) => deltalake::ensure_table_uri(root.join(name).to_string_lossy()).map_err(|e| bad(e.to_string())),
            Location::Remote(url) => url.join(&format!("{name}/")).map_err(|e| bad(e.to_string())),
        }
    }

    /// An object store rooted at the lake's root, for the files the lake
    /// keeps beside its tables (retention's journal).
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>, LakeError> {
        let bad = |reason: String| LakeError::Location { location: self.to_string(), reason };
        match self {
            Location::Local(root) => {
                std::fs::create_dir_all(root).map_err(|e| bad(e.to_string()))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(root).map_err(|e| bad(e.to_string()))?;
                Ok(Arc::new(fs))
            }
            Location::Remote(url) => {
                let s3 = AmazonS3Builder::from_env().with_url(url.as_str()).build().map_err(|e| bad(e.to_string()))?;
                Ok(Arc::new(PrefixStore::new(s3, url.path().trim_matches('/'))))
            }
        }
    }

    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::Remote(_) => None,
        }
    }
}

/// The address without anything secret in it: user, password and query
/// are dropped, and an address that does not parse shows its scheme only.
fn redacted(s: &str) -> String {
    match Url::parse(s) {
        Ok(mut u) if s.contains("://") => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        _ => match s.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://..."),
            None => s.to_string(),
        },
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Remote(u) => write!(f, "{u}"),
        }
    }
}

/// Builds the S3 client from `AWS_*` variables plus any options Delta
/// passes, rooted at the bucket (Delta adds the path itself).
struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(&self, url: &Url, _config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, StorePath)> {
        let s3 = AmazonS3Builder::from_env().with_url(url.as_str()).build()?;
        let path = StorePath::from_url_path(url.path())?;
        Ok((Arc::new(s3), path))
    }
}

/// Delta's default log store: commits with conditional puts.
struct S3Logs;

impl LogStoreFactory for S3Logs {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

fn register_s3() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let url = Url::parse(scheme).expect("scheme url");
            object_store_factories().insert(url.clone(), Arc::new(S3Stores));
            logstore_factories().insert(url, Arc::new(S3Logs));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_refuse_what_they_should() {
        assert!(matches!(Location::parse("lake").unwrap(), Location::Local(p) if p == Path::new("lake")));
        assert!(matches!(Location::parse("file:///srv/lake").unwrap(), Location::Local(p) if p == Path::new("/srv/lake")));
        let r = Location::parse("s3://vru/city/lake").unwrap();
        assert_eq!(r.to_string(), "s3://vru/city/lake/");
        assert_eq!(r.table_url("crime_events").unwrap().as_str(), "s3://vru/city/lake/crime_events/");
        assert_eq!(Location::parse("s3://vru").unwrap().table_url("t").unwrap().as_str(), "s3://vru/t/");
        for bad in ["s3:///nobucket", "s3://key:secret@vru/lake", "s3://vru/lake?access_key=x", "gs://vru/lake", "ftp://x/y"] {
            let e = Location::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret") && !e.contains("=x"), "{e}");
            assert!(e.contains("lake") || e.contains("bucket") || e.contains("scheme"), "{bad}: {e}");
        }
    }
}
