//! The brokers the contract tests run against: the embedded mock cluster
//! and a real Kafka-protocol broker (`VRU_TEST_BROKERS=host:port`, started
//! by scripts/test). Each real-broker test gets its own topic prefix, so
//! tests sharing one broker do not see each other's messages.

use vru_ingest::kafka::{self, EmbeddedBroker, KafkaOptions};

pub enum Backend {
    Embedded(EmbeddedBroker),
    Real(String),
}

impl Backend {
    pub fn embedded() -> Self {
        Backend::Embedded(EmbeddedBroker::start().expect("embedded broker"))
    }

    /// The real broker, or `None` (test skipped) when none is configured;
    /// scripts/test sets VRU_REQUIRE_BROKER so CI cannot skip.
    pub fn real() -> Option<Self> {
        match std::env::var("VRU_TEST_BROKERS") {
            Ok(b) if !b.is_empty() => Some(Backend::Real(b)),
            _ => {
                assert!(std::env::var_os("VRU_REQUIRE_BROKER").is_none(), "VRU_TEST_BROKERS is not set: start one with scripts/broker");
                eprintln!("SKIPPED: no real broker (VRU_TEST_BROKERS); scripts/test starts one");
                None
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Backend::Embedded(b) => b.bootstrap_servers(),
            Backend::Real(b) => b.clone(),
        }
    }

    pub fn embedded_broker(&self) -> Option<&EmbeddedBroker> {
        match self {
            Backend::Embedded(b) => Some(b),
            Backend::Real(_) => None,
        }
    }

    pub fn kafka(&self, test: &str) -> KafkaOptions {
        let prefix = match self {
            Backend::Embedded(_) => "vru".to_string(),
            Backend::Real(_) => format!("t{}-{test}", std::process::id()),
        };
        let brokers = match self {
            Backend::Embedded(_) => String::new(),
            Backend::Real(b) => b.clone(),
        };
        KafkaOptions { brokers, topic_prefix: prefix, partitions: 2, ..Default::default() }
    }

    pub async fn ensure_topics(&self, opts: &KafkaOptions) {
        kafka::ensure_topics(opts, self.embedded_broker()).await.expect("topics");
    }
}
