//! The users file: who may connect, with which role, and the SCRAM
//! verifier to check their password against. The password itself is never
//! written anywhere. TOML, so an administrator can read who has access:
//!
//! ```toml
//! [users.asha]
//! role = "partner"
//! partner = "police-northshire"
//! [users.asha.scram]
//! iterations = 4096
//! salt = "base64"
//! stored_key = "base64"
//! server_key = "base64"
//! ```

use crate::ServerError;
use crate::policy::{Principal, Role};
use crate::scram::Verifier;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default)]
    pub users: BTreeMap<String, User>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub role: Role,
    /// The partner organisation (landing folder name, e.g.
    /// `police-northshire`) whose rows a `partner` user may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    pub scram: StoredScram,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoredScram {
    pub iterations: u32,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

impl StoredScram {
    pub fn from_verifier(v: &Verifier) -> StoredScram {
        StoredScram {
            iterations: v.iterations,
            salt: B64.encode(&v.salt),
            stored_key: B64.encode(v.stored_key),
            server_key: B64.encode(v.server_key),
        }
    }

    pub fn verifier(&self) -> Result<Verifier, String> {
        let key = |name: &str, s: &str| -> Result<[u8; 32], String> {
            B64.decode(s).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| format!("{name} is not 32 bytes of base64"))
        };
        if self.iterations < 4096 {
            return Err(format!("{} SCRAM iterations is below the minimum of 4096", self.iterations));
        }
        Ok(Verifier {
            iterations: self.iterations,
            salt: B64.decode(&self.salt).map_err(|_| "salt is not base64".to_string())?,
            stored_key: key("stored_key", &self.stored_key)?,
            server_key: key("server_key", &self.server_key)?,
        })
    }
}

fn users_error(path: &Path, message: impl Into<String>) -> ServerError {
    ServerError::Users { path: path.to_path_buf(), message: message.into() }
}

/// Names as PostgreSQL clients send them unquoted, so `psql -U name` works
/// without surprises.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

impl UsersFile {
    /// A missing file is an empty one, so `vru user add` can create it.
    pub fn load(path: &Path) -> Result<UsersFile, ServerError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
            Err(e) => return Err(users_error(path, e.to_string())),
        };
        let file: UsersFile = toml::from_str(&text).map_err(|e| users_error(path, e.to_string()))?;
        for (name, u) in &file.users {
            u.scram.verifier().map_err(|e| users_error(path, format!("user {name}: {e}")))?;
            if (u.role == Role::Partner) != u.partner.is_some() {
                return Err(users_error(path, format!("user {name}: a partner organisation is required for, and only for, role partner")));
            }
        }
        Ok(file)
    }

    /// Writes to a temporary file beside the target and renames it over, so
    /// a crash leaves the old file or the new one, never half of either;
    /// readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), ServerError> {
        let text = toml::to_string_pretty(self).map_err(|e| users_error(path, e.to_string()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| users_error(path, e.to_string()))?;
        let tmp: PathBuf =
            dir.join(format!(".{}.{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("users"), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(b"# VRU SQL service users: managed by `vru user add|remove`. Holds SCRAM verifiers, never passwords.\n")?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            users_error(path, e.to_string())
        })
    }

    pub fn add(&mut self, name: &str, role: Role, partner: Option<&str>, password: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!("invalid user name {name:?}: use lower-case letters, digits, '_', '.', '-', starting with a letter"));
        }
        match (role, partner) {
            (Role::Partner, None) => return Err("role partner needs --partner ORG (the partner's landing folder name)".into()),
            (Role::Partner, Some(p)) if !valid_name(p) => return Err(format!("invalid partner organisation {p:?}")),
            (Role::Analyst | Role::Publisher, Some(_)) => return Err(format!("--partner is only for role partner, not {role}")),
            _ => {}
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!("the password must have at least {MIN_PASSWORD_CHARS} characters"));
        }
        let scram = StoredScram::from_verifier(&Verifier::new(password));
        self.users.insert(name.to_string(), User { role, partner: partner.map(str::to_string), scram });
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }
}

/// The users file, re-read when it changes, so `vru user add` takes effect
/// without a restart.
pub struct Users {
    path: PathBuf,
    cache: Mutex<(Option<SystemTime>, UsersFile)>,
}

impl Users {
    pub fn open(path: PathBuf) -> Result<Users, crate::ServerError> {
        let file = UsersFile::load(&path)?;
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(Users { path, cache: Mutex::new((mtime, file)) })
    }

    pub fn count(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).1.users.len()
    }

    pub fn lookup(&self, name: &str) -> Option<User> {
        self.reload();
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).1.users.get(name).cloned()
    }

    /// Re-reads the file if it changed; says whether it did.
    pub fn reload(&self) -> bool {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if mtime == c.0 {
            return false;
        }
        match UsersFile::load(&self.path) {
            Ok(f) => {
                *c = (mtime, f);
                true
            }
            // A broken edit keeps the last good list.
            Err(e) => {
                tracing::error!("users file not reloaded: {e}");
                false
            }
        }
    }

    /// Whether `p` may still be logged in as it is: the user exists with
    /// the same role, organisation and password.
    pub fn still_allowed(&self, p: &Principal) -> Result<(), String> {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match c.1.users.get(&p.user) {
            None => Err(format!("user {} was removed", p.user)),
            Some(u) if u.role != p.role || u.partner != p.partner => Err(format!("the role of user {} changed", p.user)),
            Some(u) if u.scram.stored_key != p.stored_key => Err(format!("the password of user {} changed", p.user)),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_verifiers_and_never_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/users.toml");
        let mut f = UsersFile::default();
        f.add("asha", Role::Partner, Some("police-northshire"), "s3cret-pass").unwrap();
        f.add("bo", Role::Analyst, None, "another-pass").unwrap();
        f.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret-pass") && !text.contains("another-pass"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = UsersFile::load(&path).unwrap();
        assert_eq!(back, f);
        let v = back.users["asha"].scram.verifier().unwrap();
        assert_eq!(Verifier::from_password("s3cret-pass", &v.salt, v.iterations), v);
        assert_ne!(Verifier::from_password("wrong-pass!", &v.salt, v.iterations), v);
        // Nothing left behind by the atomic write.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn rules_for_names_roles_and_passwords() {
        let mut f = UsersFile::default();
        assert!(f.add("Bad Name", Role::Analyst, None, "long enough").is_err());
        assert!(f.add("p", Role::Partner, None, "long enough").is_err());
        assert!(f.add("a", Role::Analyst, Some("police-x"), "long enough").is_err());
        assert!(f.add("a", Role::Analyst, None, "short").is_err());
        assert!(f.add("a", Role::Publisher, None, "long enough").is_ok());
        assert!(f.remove("a"));
        assert!(!f.remove("a"));
        assert_eq!(UsersFile::load(Path::new("/nonexistent/users.toml")).unwrap(), UsersFile::default());
    }
}
