//! Where an extract's events go. The Kafka producer is the real sink; tests
//! and `--dry-run` use a vector. The contract: `send` may buffer, `confirm`
//! returns only when every event sent so far is durably accepted.

pub use crate::error::SinkError;
use vru_model::Event;

/// Per topic and partition, the highest offset that must be durable.
pub type Offsets = std::collections::HashMap<(String, i32), i64>;

pub struct Confirmation {
    /// Who confirmed, for the receipt: `kafka-acknowledged` or `lake-committed`.
    pub confirmed_by: String,
    /// When set, the events are acknowledged but count only once the lake
    /// holds these offsets (embedded broker): see [`EventSink::is_durable`].
    pub awaiting_lake: Option<Offsets>,
}

/// Checks `done` every 10 ms until it holds or `timeout` passes: for
/// callers with nothing to wait on.
pub fn poll_until(done: impl Fn() -> bool, timeout: std::time::Duration) -> Result<(), SinkError> {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        if std::time::Instant::now() > deadline {
            return Err(SinkError::LakeTimeout(timeout));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

pub trait EventSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError>;
    /// Returns when every event sent so far is acknowledged.
    fn confirm(&mut self) -> Result<Confirmation, SinkError>;
    /// Whether offsets from a confirmation are now durable in the lake.
    fn is_durable(&self, _offsets: &Offsets) -> bool {
        true
    }
    /// Blocks until the offsets are durable, or fails after `timeout`.
    fn wait_durable(&self, offsets: &Offsets, timeout: std::time::Duration) -> Result<(), SinkError> {
        poll_until(|| self.is_durable(offsets), timeout)
    }
}

/// Collects events in memory.
#[derive(Default)]
pub struct VecSink {
    pub events: Vec<Event>,
}

impl EventSink for VecSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        self.events.push(event.clone());
        Ok(())
    }
    fn confirm(&mut self) -> Result<Confirmation, SinkError> {
        Ok(Confirmation { confirmed_by: "memory".into(), awaiting_lake: None })
    }
}

/// Counts events and keeps none: `vru check`, which reads a file exactly
/// as ingest would and publishes nothing.
#[derive(Default)]
pub struct NullSink {
    pub events: u64,
}

impl EventSink for NullSink {
    fn send(&mut self, _: &Event) -> Result<(), SinkError> {
        self.events += 1;
        Ok(())
    }
    fn confirm(&mut self) -> Result<Confirmation, SinkError> {
        Ok(Confirmation { confirmed_by: "nothing (checked only)".into(), awaiting_lake: None })
    }
}
