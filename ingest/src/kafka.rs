//! Kafka plumbing shared by the producer, the normaliser and the DLQ tools:
//! topic names, client settings, the embedded broker, topic creation.

pub use crate::error::KafkaSetupError;
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
    /// `retention.ms` of the event and receipt topics. The lake is the
    /// record; a topic only carries messages until the normaliser commits
    /// them, plus time to recover from an outage. A message cannot be
    /// erased from a topic alone, so this bounds how long an erased record
    /// can outlive its erasure; it must not exceed the retention policy's
    /// `kafka_max`. Set when topics are created, checked (and lowered) at
    /// every start.
    pub retention_ms: i64,
    /// `retention.ms` of the dead-letter topic: the retention policy's
    /// `dead_letters` period (14 days by default).
    pub dlq_retention_ms: i64,
    /// Refuse to start unless the broker confirms every topic's
    /// `retention.ms` (DescribeConfigs). Off only for a broker without
    /// DescribeConfigs: then topics are still created with `retention.ms`,
    /// and an error is logged at every start saying retention is unchecked.
    /// (nisshi has DescribeConfigs but not the legacy AlterConfigs, so
    /// there a topic keeping messages too long stops the start-up.)
    pub verify_retention: bool,
}

pub const DAY_MS: i64 = 86_400_000;

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: String::new(),
            topic_prefix: "vru".into(),
            partitions: 3,
            queue_max_kbytes: 65_536,
            message_timeout_ms: 300_000,
            retention_ms: 7 * DAY_MS,
            dlq_retention_ms: 14 * DAY_MS,
            verify_retention: true,
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

/// The in-process broker. Not `Send` (it wraps a raw librdkafka handle), so
/// it lives on the main task for as long as clients use it.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    identity: String,
}

impl EmbeddedBroker {
    pub fn start() -> Result<Self, KafkaSetupError> {
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let cluster = MockCluster::new(1).map_err(|e| KafkaSetupError::Embedded(e.to_string()))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(EmbeddedBroker { cluster, identity: format!("embedded-{}-{nanos}-{n}", std::process::id()) })
    }

    /// This broker's own identity, never shared with an earlier one.
    /// librdkafka names a mock cluster after its memory address, which a
    /// later mock cluster can reuse: the normaliser would then take the lake
    /// offsets of a broker that is gone for this one's, ask for offsets the
    /// new broker never had, and stop on a gap.
    pub fn identity(&self) -> &str {
        &self.identity
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

/// Creates the pipeline's topics if missing, each with its `retention.ms`,
/// then checks every topic's retention (see [`check_retention`]). Against
/// a real broker the admin API is tried; brokers that auto-create topics
/// are fine if creation fails, but not if retention cannot be confirmed.
/// The embedded broker keeps nothing beyond its process.
pub async fn ensure_topics(opts: &KafkaOptions, embedded: Option<&EmbeddedBroker>) -> Result<(), KafkaSetupError> {
    let mut names: Vec<String> = opts.event_topics().into_iter().map(|(t, _)| t).collect();
    names.push(opts.dlq_topic());
    if let Some(b) = embedded {
        for t in &names {
            b.create_topic(t, opts.partitions)?;
        }
        return Ok(());
    }
    create_topics(opts, &names).await?;
    if !opts.verify_retention {
        tracing::error!(
            brokers = %opts.brokers,
            "kafka.verify_retention is off: the topics' retention.ms is not checked, and messages may outlive the retention policy"
        );
        return Ok(());
    }
    check_retention(opts, &names).await
}

fn admin(opts: &KafkaOptions, what: &str) -> Result<AdminClient<DefaultClientContext>, KafkaSetupError> {
    opts.client_config(&opts.brokers).create().map_err(|e| KafkaSetupError::CreateTopic {
        topic: what.into(),
        brokers: opts.brokers.clone(),
        reason: e.to_string(),
    })
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(15)))
}

impl KafkaOptions {
    /// The `retention.ms` a topic should have.
    pub fn retention_ms_of(&self, topic: &str) -> i64 {
        if topic == self.dlq_topic() { self.dlq_retention_ms } else { self.retention_ms }
    }
}

/// Every topic must keep messages no longer than its `retention.ms`:
/// read from the broker (DescribeConfigs); a topic keeping them longer or
/// for ever is lowered (AlterConfigs), and if that fails too the pipeline
/// refuses to start rather than let messages outlive the policy.
pub async fn check_retention(opts: &KafkaOptions, names: &[String]) -> Result<(), KafkaSetupError> {
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    let admin = admin(opts, &names.join(","))?;
    let specs: Vec<ResourceSpecifier<'_>> = names.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let fail = |topic: &str, found: String, reason: String| KafkaSetupError::Retention {
        topic: topic.to_string(),
        found,
        wanted: opts.retention_ms_of(topic),
        reason,
    };
    let described = admin
        .describe_configs(&specs, &admin_options())
        .await
        .map_err(|e| fail(&names.join(","), "(unknown)".into(), format!("the broker did not describe its topics ({e})")))?;
    for (topic, r) in names.iter().zip(described) {
        let wanted = opts.retention_ms_of(topic);
        let found = r.ok().and_then(|c| c.get("retention.ms").and_then(|e| e.value.clone())).and_then(|v| v.trim().parse::<i64>().ok());
        if found.is_some_and(|f| (0..=wanted).contains(&f)) {
            continue;
        }
        let shown = match found {
            Some(-1) => "for ever (retention.ms = -1)".to_string(),
            Some(ms) => format!("for {ms} ms"),
            None => "for the broker's default (retention.ms not reported)".to_string(),
        };
        let value = wanted.to_string();
        let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set("retention.ms", &value);
        match admin.alter_configs([&alter], &admin_options()).await {
            Ok(results) if results.iter().all(Result::is_ok) => {
                tracing::warn!(%topic, was = %shown, retention_ms = wanted, "lowered the topic's retention to the configured limit");
            }
            Ok(results) => {
                let why = results.into_iter().filter_map(Result::err).map(|(_, c)| format!("{c:?}")).collect::<Vec<_>>().join(", ");
                return Err(fail(topic, shown, format!("the broker refused to change it ({why})")));
            }
            Err(e) => return Err(fail(topic, shown, format!("it could not be changed ({e})"))),
        }
    }
    Ok(())
}

/// Deletes dead letters older than `cutoff` (DeleteRecords up to the
/// first message at or after it, per partition). Returns how many
/// messages went. Only for a real broker.
pub async fn purge_dead_letters(opts: &KafkaOptions, cutoff: chrono::DateTime<chrono::Utc>) -> Result<i64, KafkaSetupError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let topic = opts.dlq_topic();
    let err = |e: rdkafka::error::KafkaError| KafkaSetupError::CreateTopic {
        topic: topic.clone(),
        brokers: opts.brokers.clone(),
        reason: format!("purging dead letters: {e}"),
    };
    let consumer: BaseConsumer = opts.client_config(&opts.brokers).set("group.id", "vru-retention").create().map_err(err)?;
    let timeout = Duration::from_secs(15);
    let md = consumer.fetch_metadata(Some(&topic), timeout).map_err(err)?;
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
    let mut query = TopicPartitionList::new();
    let mut highs = std::collections::HashMap::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, p, timeout).map_err(err)?;
        if high > low {
            query.add_partition_offset(&topic, p, Offset::Offset(cutoff.timestamp_millis())).map_err(err)?;
            highs.insert(p, (low, high));
        }
    }
    if highs.is_empty() {
        return Ok(0);
    }
    let found = consumer.offsets_for_times(query, timeout).map_err(err)?;
    let mut delete = TopicPartitionList::new();
    let mut purged = 0;
    for e in found.elements() {
        let (low, high) = highs[&e.partition()];
        // No message at or after the cutoff: every message is older.
        let upto = match e.offset() {
            Offset::Offset(o) => o,
            _ => high,
        };
        if upto > low {
            delete.add_partition_offset(&topic, e.partition(), Offset::Offset(upto)).map_err(err)?;
            purged += upto - low;
        }
    }
    if delete.count() > 0 {
        let admin = admin(opts, &topic)?;
        admin.delete_records(&delete, &admin_options()).await.map_err(err)?;
    }
    Ok(purged)
}

async fn create_topics(opts: &KafkaOptions, names: &[String]) -> Result<(), KafkaSetupError> {
    let admin = admin(opts, &names.join(","))?;
    let retention: Vec<String> = names.iter().map(|t| opts.retention_ms_of(t).to_string()).collect();
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .zip(&retention)
        .map(|(t, r)| NewTopic::new(t, opts.partitions, TopicReplication::Fixed(1)).set("retention.ms", r))
        .collect();
    let options = admin_options();
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

#[cfg(test)]
mod embedded_tests {
    use super::EmbeddedBroker;

    /// A broker started after another was dropped (librdkafka may put its
    /// mock cluster at the same address, and name it the same) still has
    /// an identity of its own, so no lake offsets of the old one apply.
    #[test]
    fn each_embedded_broker_has_its_own_identity() {
        let first = EmbeddedBroker::start().unwrap();
        let id = first.identity().to_string();
        drop(first);
        let second = EmbeddedBroker::start().unwrap();
        assert_ne!(id, second.identity());
    }
}
