//! Publishes events to Kafka with an idempotent producer and counts every
//! delivery report, so a file counts as ingested only when the broker (or,
//! with the embedded broker, the lake) has confirmed every one of its events.

use crate::kafka::KafkaOptions;
use crate::sink::{Confirmation, EventSink, Offsets, SinkError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use vru_model::Event;

pub use crate::normaliser::state::Watermarks;

/// Delivery reports of one batch (one extract).
#[derive(Default)]
pub struct Tracker {
    state: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    delivered: u64,
    failed: u64,
    first_error: Option<String>,
    max_offsets: HashMap<(String, i32), i64>,
}

pub struct DeliveryContext;

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<Tracker>;

    fn delivery(&self, result: &DeliveryResult<'_>, tracker: Arc<Tracker>) {
        let mut s = tracker.state.lock().expect("tracker");
        match result {
            Ok(m) => {
                s.delivered += 1;
                let e = s.max_offsets.entry((m.topic().to_string(), m.partition())).or_insert(-1);
                *e = (*e).max(m.offset());
            }
            Err((e, _)) => {
                s.failed += 1;
                s.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// How `confirm` decides an extract is safe.
pub enum ConfirmBy {
    /// Every event acknowledged by a real broker.
    Broker,
    /// Every event committed to the lake by the in-process normaliser: the
    /// embedded broker forgets everything on exit, so its acks prove little.
    /// It also keeps only a few megabytes per partition, so ingest publishes
    /// in chunks and waits until the normaliser has read each one.
    Lake { watermarks: watch::Receiver<Watermarks>, read: watch::Receiver<Watermarks> },
}

/// Bytes published before ingest waits for the in-process normaliser to
/// read them: under the embedded broker's 5 MB per-partition log.
const EMBEDDED_CHUNK_BYTES: usize = 2 << 20;

pub struct KafkaSink {
    producer: ThreadedProducer<DeliveryContext>,
    opts: KafkaOptions,
    tracker: Arc<Tracker>,
    sent: u64,
    confirm_by: ConfirmBy,
    /// Bytes sent since the normaliser last caught up (embedded only).
    unread_bytes: usize,
}

impl KafkaSink {
    pub fn new(opts: &KafkaOptions, bootstrap: &str, confirm_by: ConfirmBy) -> Result<Self, SinkError> {
        let producer = opts
            .client_config(bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "20")
            .set("compression.type", "lz4")
            .set("queue.buffering.max.kbytes", opts.queue_max_kbytes.to_string())
            .set("message.timeout.ms", opts.message_timeout_ms.to_string())
            .create_with_context(DeliveryContext)
            .map_err(|e| SinkError::Kafka(e.to_string()))?;
        Ok(KafkaSink { producer, opts: opts.clone(), tracker: Arc::default(), sent: 0, confirm_by, unread_bytes: 0 })
    }

    /// Sends raw bytes (used by DLQ replay and tests) with the same
    /// delivery accounting as events.
    pub fn send_raw(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), SinkError> {
        let mut record = BaseRecord::with_opaque_to(topic, self.tracker.clone()).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                // Back-pressure: the bounded queue is full, wait for the broker.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(SinkError::Kafka(e.to_string())),
            }
        }
        self.sent += 1;
        self.unread_bytes += payload.len() + key.len();
        if self.unread_bytes >= EMBEDDED_CHUNK_BYTES {
            self.wait_until_read()?;
        }
        Ok(())
    }

    /// With the embedded broker: deliver what is queued, then wait until the
    /// normaliser has read up to it, before the broker's log can roll over.
    fn wait_until_read(&mut self) -> Result<(), SinkError> {
        self.unread_bytes = 0;
        let ConfirmBy::Lake { read, .. } = &self.confirm_by else { return Ok(()) };
        let _ = self.producer.flush(Duration::from_millis(u64::from(self.opts.message_timeout_ms)));
        let delivered = self.tracker.state.lock().expect("tracker").max_offsets.clone();
        crate::durability::wait(read, &delivered, Duration::from_secs(600))
    }
}

impl EventSink for KafkaSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        let topic = self.opts.topic(event.envelope.source);
        // Same record, same key, same partition: versions of a record stay in order.
        let key = format!("{}/{}/{}", event.envelope.source, event.envelope.partner, event.envelope.record_id);
        self.send_raw(&topic, key.as_bytes(), &event.to_json())
    }

    fn confirm(&mut self) -> Result<Confirmation, SinkError> {
        let flush_timeout = Duration::from_millis(u64::from(self.opts.message_timeout_ms) + 10_000);
        if let Err(e) = self.producer.flush(flush_timeout) {
            tracing::warn!(error = %e, "producer flush did not complete");
        }
        let tracker = std::mem::take(&mut self.tracker);
        let sent = std::mem::take(&mut self.sent);
        let state = std::mem::take(&mut *tracker.state.lock().expect("tracker"));
        if state.failed > 0 || state.delivered < sent {
            let reason = state.first_error.unwrap_or_else(|| "no delivery report before the timeout".into());
            return Err(SinkError::NotAcknowledged { sent, failed: sent - state.delivered, reason });
        }
        Ok(match &self.confirm_by {
            ConfirmBy::Broker => Confirmation { confirmed_by: "kafka-acknowledged".into(), awaiting_lake: None },
            ConfirmBy::Lake { .. } => Confirmation { confirmed_by: "lake-committed".into(), awaiting_lake: Some(state.max_offsets) },
        })
    }

    fn is_durable(&self, offsets: &Offsets) -> bool {
        match &self.confirm_by {
            ConfirmBy::Broker => true,
            ConfirmBy::Lake { watermarks, .. } => crate::durability::covers(&watermarks.borrow(), offsets),
        }
    }

    /// Woken by the normaliser's commits, not by a polling clock.
    fn wait_durable(&self, offsets: &Offsets, timeout: Duration) -> Result<(), SinkError> {
        match &self.confirm_by {
            ConfirmBy::Broker => Ok(()),
            ConfirmBy::Lake { watermarks, .. } => crate::durability::wait(watermarks, offsets, timeout),
        }
    }
}
