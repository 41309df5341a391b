//! The dead-letter topic: messages the normaliser could not turn into
//! events, kept with the reason, where they came from and when, so an
//! operator can list them and, after a fix, replay them.

use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, future_producer::DeliveryFuture};

pub const H_REASON: &str = "vru.reason";
pub const H_TOPIC: &str = "vru.topic";
pub const H_PARTITION: &str = "vru.partition";
pub const H_OFFSET: &str = "vru.offset";
pub const H_FAILED_AT: &str = "vru.failed_at";

/// Queues the message for the dead-letter topic; `None` if it could not
/// even be queued (logged).
pub fn send(producer: &FutureProducer, dlq_topic: &str, msg: &impl Message, reason: &str) -> Option<DeliveryFuture> {
    let headers = OwnedHeaders::new()
        .insert(Header { key: H_REASON, value: Some(reason) })
        .insert(Header { key: H_TOPIC, value: Some(msg.topic()) })
        .insert(Header { key: H_PARTITION, value: Some(&msg.partition().to_string()) })
        .insert(Header { key: H_OFFSET, value: Some(&msg.offset().to_string()) })
        .insert(Header { key: H_FAILED_AT, value: Some(&chrono::Utc::now().to_rfc3339()) });
    let payload = msg.payload().unwrap_or_default();
    let key = msg.key().unwrap_or_default();
    let record = FutureRecord::to(dlq_topic).payload(payload).key(key).headers(headers);
    match producer.send_result(record) {
        Ok(f) => Some(f),
        Err((e, _)) => {
            tracing::error!(error = %e, "cannot queue dead-letter message");
            None
        }
    }
}

/// One dead-lettered message, as `vru dlq list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    pub dlq_offset: i64,
    pub dlq_partition: i32,
    pub reason: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub failed_at: String,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    pub fn from_message(m: &OwnedMessage) -> Self {
        let mut d = DeadLetter {
            dlq_offset: m.offset(),
            dlq_partition: m.partition(),
            reason: String::new(),
            topic: String::new(),
            partition: -1,
            offset: -1,
            failed_at: String::new(),
            key: m.key().unwrap_or_default().to_vec(),
            payload: m.payload().unwrap_or_default().to_vec(),
        };
        if let Some(h) = m.headers() {
            for Header { key, value } in h.iter() {
                let v = value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
                match key {
                    H_REASON => d.reason = v,
                    H_TOPIC => d.topic = v,
                    H_PARTITION => d.partition = v.parse().unwrap_or(-1),
                    H_OFFSET => d.offset = v.parse().unwrap_or(-1),
                    H_FAILED_AT => d.failed_at = v,
                    _ => {}
                }
            }
        }
        d
    }
}

/// Reads the whole dead-letter topic, up to its current end.
pub async fn read_all(kafka: &crate::kafka::KafkaOptions, bootstrap: &str) -> Result<Vec<DeadLetter>, rdkafka::error::KafkaError> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};
    use std::time::Duration;
    let consumer: StreamConsumer =
        kafka.client_config(bootstrap).set("group.id", "vru-dlq-reader").set("enable.auto.commit", "false").create()?;
    let topic = kafka.dlq_topic();
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(Some(&topic), timeout)?;
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = std::collections::HashMap::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, p, timeout)?;
        if high > low {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
            remaining.insert(p, high);
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl)?;
    while !remaining.is_empty() {
        let m =
            tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await.map_err(|_| rdkafka::error::KafkaError::Canceled)??;
        let m = m.detach();
        if remaining.get(&m.partition()).is_some_and(|high| m.offset() + 1 >= *high) {
            remaining.remove(&m.partition());
        }
        out.push(DeadLetter::from_message(&m));
    }
    out.sort_by_key(|d| (d.dlq_partition, d.dlq_offset));
    Ok(out)
}
