//! Kafka plumbing shared by the producer, the normaliser and the DLQ tools:
//! topic names, client settings, the embedded broker, topic creation.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use std::time::Duration;
use vru_model::Source;
use vru_model::tables::Table;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaOptions {
    /// `host:port,...` of a real Kafka-protocol broker. Empty: run the
    /// embedded in-process broker (librdkafka's mock cluster), which forgets
    /// everything when the process stops.
    pub brokers: String,
    /// Topics are `<prefix>.<source>` plus `<prefix>.dlq`.
    pub topic_prefix: String,
    /// Partitions per topic when the pipeline creates its topics.
    pub partitions: i32,
    /// Producer queue bound: when the broker is slow the producer waits
    /// instead of buffering without limit.
    pub queue_max_kbytes: u32,
    /// How long a message may wait for the broker before it counts as not
    /// delivered (and the file is retried).
    pub message_timeout_ms: u32,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: String::new(),
            topic_prefix: "vru".into(),
            partitions: 3,
            queue_max_kbytes: 65_536,
            message_timeout_ms: 300_000,
        }
    }
}

impl KafkaOptions {
    pub fn is_embedded(&self) -> bool {
        self.brokers.trim().is_empty()
    }

    pub fn topic(&self, source: Source) -> String {
        format!("{}.{}", self.topic_prefix, source.as_str())
    }

    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.topic_prefix)
    }

    /// Every topic events arrive on, with the lake tables it feeds.
    pub fn event_topics(&self) -> Vec<(String, Vec<Table>)> {
        Source::ALL.iter().map(|s| (self.topic(*s), Table::ALL.iter().copied().filter(|t| t.source() == *s).collect())).collect()
    }

    pub fn source_of_topic(&self, topic: &str) -> Option<Source> {
        topic.strip_prefix(&self.topic_prefix)?.strip_prefix('.').and_then(Source::parse)
    }

    /// Base client settings; librdkafka's own logging goes to `tracing`
    /// under the `librdkafka` target.
    pub fn client_config(&self, bootstrap: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap).set_log_level(RDKafkaLogLevel::Warning);
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot start the embedded broker: {0}")]
    Embedded(String),
    #[error("cannot create topic {topic} on {brokers}: {reason}")]
    CreateTopic { topic: String, brokers: String, reason: String },
}

/// The in-process broker. Not `Send` (it wraps a raw librdkafka handle), so
/// it lives on the main task for as long as clients use it.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    pub fn start() -> Result<Self, KafkaSetupError> {
        let cluster = MockCluster::new(1).map_err(|e| KafkaSetupError::Embedded(e.to_string()))?;
        Ok(EmbeddedBroker { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), KafkaSetupError> {
        match self.cluster.create_topic(topic, partitions, 1) {
            Ok(()) => Ok(()),
            Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::TopicAlreadyExists) => Ok(()),
            Err(e) => Err(KafkaSetupError::CreateTopic { topic: topic.into(), brokers: "embedded".into(), reason: e.to_string() }),
        }
    }
}

/// Creates the pipeline's topics if missing. Against a real broker the admin
/// API is tried; brokers that auto-create topics are fine if it fails.
pub async fn ensure_topics(opts: &KafkaOptions, embedded: Option<&EmbeddedBroker>) -> Result<(), KafkaSetupError> {
    let mut names: Vec<String> = opts.event_topics().into_iter().map(|(t, _)| t).collect();
    names.push(opts.dlq_topic());
    if let Some(b) = embedded {
        for t in &names {
            b.create_topic(t, opts.partitions)?;
        }
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = opts
        .client_config(&opts.brokers)
        .create()
        .map_err(|e| KafkaSetupError::CreateTopic { topic: names.join(","), brokers: opts.brokers.clone(), reason: e.to_string() })?;
    let new: Vec<NewTopic<'_>> = names.iter().map(|t| NewTopic::new(t, opts.partitions, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(15)));
    match admin.create_topics(&new, &options).await {
        Ok(results) => {
            for r in results {
                if let Err((topic, code)) = r
                    && code != RDKafkaErrorCode::TopicAlreadyExists
                {
                    tracing::warn!(%topic, ?code, "topic not created by the admin API; relying on broker auto-creation");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "admin API unavailable; relying on broker auto-creation"),
    }
    Ok(())
}
