//! The one configuration struct. Layers, later winning: built-in defaults,
//! the TOML file (`--config`, else `./vru.toml`, else `<data_dir>/vru.toml`), `VRU_*`
//! environment variables (nested keys with `__`, e.g.
//! `VRU_KAFKA__BROKERS=host:9092`), then command-line flags. Unknown keys
//! are errors, so a typo cannot silently leave a default in place.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vru_ingest::extract::ExtractRules;
use vru_ingest::kafka::KafkaOptions;
use vru_ingest::normaliser::NormaliserOptions;
use vru_ingest::pipeline::{LandingConfig, PipelineConfig};
use vru_ingest::retention::RetentionConfig;
use vru_queries::disclosure::DisclosureConfig;
use vru_queries::measures::MeasureConfig;
use vru_server::config::ServerConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the lake (`lake/`) and, by default, the landing folder live.
    pub data_dir: PathBuf,
    /// The lake, when not `<data_dir>/lake`: a directory or
    /// `s3://bucket/prefix` on S3-compatible storage (endpoint and
    /// credentials from the standard `AWS_*` variables, never here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<String>,
    /// Landing folder partners drop extracts into (default `<data_dir>/landing`).
    pub landing_dir: Option<PathBuf>,
    /// Kafka: brokers (empty = embedded), topic prefix, producer bounds.
    pub kafka: KafkaOptions,
    /// Normaliser batching and retry.
    pub normaliser: NormaliserOptions,
    /// The rule for partly bad extracts and the reader's limits.
    pub extract: ExtractRules,
    /// What the measures count and where.
    pub measures: MeasureConfig,
    /// Landing folder polling.
    pub landing: LandingConfig,
    /// What `vru run`, `vru ingest` and `vru normalise` serve to operators.
    pub pipeline: PipelineConfig,
    /// The PostgreSQL-wire SQL service (`vru serve`).
    pub server: ServerConfig,
    /// Retention runs (`vru retention`).
    pub retention: RetentionConfig,
    /// Disclosure control of reports and the audit.
    pub disclosure: DisclosureConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("vru-data"),
            lake: None,
            landing_dir: None,
            kafka: KafkaOptions::default(),
            normaliser: NormaliserOptions::default(),
            extract: ExtractRules::default(),
            measures: MeasureConfig::default(),
            landing: LandingConfig::default(),
            pipeline: PipelineConfig::default(),
            server: ServerConfig::default(),
            retention: RetentionConfig::default(),
            disclosure: DisclosureConfig::default(),
        }
    }
}

/// Flags that override configuration, present only when given.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measures: Option<MeasureOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionOverride>,
}

#[derive(Debug, Default, Serialize)]
pub struct RetentionOverride {
    pub policy: String,
}

#[derive(Debug, Default, Serialize)]
pub struct KafkaOverride {
    pub brokers: String,
}

#[derive(Debug, Default, Serialize)]
pub struct MeasureOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(p) => {
                anyhow::ensure!(p.exists(), "config file {} does not exist", p.display());
                f = f.merge(Toml::file(p));
            }
            None if Path::new("vru.toml").exists() => f = f.merge(Toml::file("vru.toml")),
            None => {
                // The demo leaves its settings (focus area) beside its lake.
                let data_dir = overrides.data_dir.clone().unwrap_or_else(|| Config::default().data_dir);
                f = f.merge(Toml::file(data_dir.join("vru.toml")));
            }
        }
        f = f.merge(Env::prefixed("VRU_").filter(|k| !harness_variable(k.as_str())).split("__")).merge(Serialized::globals(overrides));
        Ok(f.extract()?)
    }

    /// The lake this configuration names (see [`Config::lake`]).
    pub fn lake(&self) -> anyhow::Result<vru_ingest::lake::Lake> {
        match &self.lake {
            Some(address) => Ok(vru_ingest::lake::Lake::at(address)?),
            None => Ok(vru_ingest::lake::Lake::new(self.data_dir.join("lake"))),
        }
    }

    pub fn users_file(&self) -> PathBuf {
        self.server.users_file.clone().unwrap_or_else(|| self.data_dir.join("server/users.toml"))
    }

    /// The decoy-salt secret of the SQL service's logins.
    pub fn server_secret_file(&self) -> PathBuf {
        self.data_dir.join("server/decoy-salt.key")
    }

    pub fn audit_file(&self) -> PathBuf {
        self.server.audit_file.clone().unwrap_or_else(|| self.data_dir.join("server/audit.jsonl"))
    }

    pub fn landing_dir(&self) -> PathBuf {
        self.landing_dir.clone().unwrap_or_else(|| self.data_dir.join("landing"))
    }
}

/// `VRU_LOG` and the test harness's switches (`VRU_REQUIRE_*`, `VRU_TEST_*`,
/// `VRU_SLT_UPDATE`) share the prefix but are not settings; everything else
/// with the prefix must be a real key, so a misspelt variable still fails.
fn harness_variable(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "log" || k == "slt_update" || k.starts_with("require_") || k.starts_with("test_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/vru.example.toml");
        let c = Config::load(Some(&p), &Overrides::default()).unwrap();
        assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(c.extract.limits.max_line_bytes, 4 << 20);
        assert_eq!(c.measures.focus_area, vec!["E08000003"]);
        assert_eq!(c.server.listen, "127.0.0.1:5433");
        assert_eq!(c.users_file(), PathBuf::from("/srv/vru/server/users.toml"));
        assert_eq!(c.retention.policy, "default");
        assert_eq!(c.kafka.retention_ms, 604_800_000);
        assert_eq!(c.pipeline.metrics_listen.as_deref(), Some("127.0.0.1:9465"));
    }

    #[test]
    fn layers_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vru.toml");
        std::fs::write(&p, "data_dir = \"/srv/vru\"\n[kafka]\nbrokers = \"a:1\"\n").unwrap();
        let c = Config::load(Some(&p), &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/vru"));
        assert_eq!(c.kafka.brokers, "a:1");
        let o = Overrides { kafka: Some(KafkaOverride { brokers: "b:2".into() }), ..Default::default() };
        assert_eq!(Config::load(Some(&p), &o).unwrap().kafka.brokers, "b:2");
        std::fs::write(&p, "[kafka]\nbrokerz = \"a:1\"\n").unwrap();
        assert!(Config::load(Some(&p), &Overrides::default()).unwrap_err().to_string().contains("brokerz"));
    }
}
