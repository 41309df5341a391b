//! Every error the ingest crate returns, each saying whose fault it is
//! ([`ErrorKind`]) and so whether waiting and trying again can help
//! (`retryable()`): the normaliser's commit loop retries only those, the
//! landing folder leaves a file in place for them, and receipts carry the
//! kind of a refusal.

use rdkafka::error::KafkaError;
use vru_lake::LakeError;
use vru_model::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot start the embedded broker: {0}")]
    Embedded(String),
    #[error("cannot create topic {topic} on {brokers}: {reason}")]
    CreateTopic { topic: String, brokers: String, reason: String },
    #[error(
        "topic {topic} keeps messages {found}, longer than its retention.ms should be ({wanted} ms) and {reason}: messages would outlive the retention policy. Set it on the broker (kafka-configs --alter --entity-type topics --entity-name {topic} --add-config retention.ms={wanted}), or raise kafka.retention_ms within the policy's kafka_max"
    )]
    Retention { topic: String, found: String, wanted: i64, reason: String },
}

impl KafkaSetupError {
    /// A broker that cannot be reached may come back; a topic kept longer
    /// than the retention policy allows is for an operator to change.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaSetupError::Embedded(_) | KafkaSetupError::CreateTopic { .. } => ErrorKind::Infrastructure,
            KafkaSetupError::Retention { .. } => ErrorKind::Configuration,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the broker did not acknowledge {failed} of {sent} events: {reason}; the file stays in the landing folder and will be retried")]
    NotAcknowledged { sent: u64, failed: u64, reason: String },
    #[error("events were acknowledged by the broker but not committed to the lake within {0:?}; the file will be retried")]
    LakeTimeout(std::time::Duration),
    #[error("cannot publish: {0}")]
    Kafka(String),
    #[error("{0}")]
    FileChanged(String),
    #[error("cannot check the file against the lake: {0}; the file stays in the landing folder and will be retried")]
    Lake(String),
}

impl SinkError {
    /// Every sink error leaves the file in the landing folder to be tried
    /// again: a broker, the lake or the disk failed, or the partner's upload
    /// was still being written (the file changed while it was read).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Infrastructure
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NormaliserError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("stopped with {0} events not yet committed to the lake; they are still in Kafka and will be read again on restart")]
    StoppedWithPending(usize),
    #[error(
        "table {table}: another writer committed offsets of {partition} up to {theirs} while this normaliser held events up to {ours}: two normalisers are writing this lake. Stopped without committing; the events stay in Kafka. Run one normaliser per lake"
    )]
    Conflict { table: String, partition: String, theirs: i64, ours: i64 },
    #[error(
        "Kafka no longer holds offsets the lake has not read ({0}): messages were deleted before they reached the lake (retention shorter than the normaliser's lag). Stopped without skipping them; re-send the affected extracts, then restart"
    )]
    Gap(String),
    #[error(
        "{partition}: the lake has read this partition up to offset {lake_next}, but the broker's log ends at {high}. The broker was reset or replaced keeping its cluster id, so its new messages would reuse offsets the lake has already read and be skipped as written. Stopped before reading anything. If the broker was reset, set `normaliser.lineage` (VRU_NORMALISER__LINEAGE) to a new name such as the reset's date: offsets start afresh for it, and events the lake already holds are still recognised by their ids, so re-sent extracts are not written twice"
    )]
    BrokerBehindLake { partition: String, lake_next: i64, high: i64 },
}

impl NormaliserError {
    /// Whose fault it is; the retry loop retries only what can heal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NormaliserError::Kafka(_) | NormaliserError::StoppedWithPending(_) => ErrorKind::Infrastructure,
            NormaliserError::Lake(e) => e.kind(),
            NormaliserError::Conflict { .. } | NormaliserError::Gap(_) | NormaliserError::BrokerBehindLake { .. } => {
                ErrorKind::Configuration
            }
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    #[error(transparent)]
    Normaliser(#[from] NormaliserError),
    #[error("landing folder {path}: {source}")]
    Landing { path: String, source: std::io::Error },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("a pipeline task failed: {0}")]
    Task(String),
}

impl PipelineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Setup(e) => e.kind(),
            PipelineError::Landing { .. } => ErrorKind::Infrastructure,
            PipelineError::Normaliser(e) => e.kind(),
            PipelineError::Sink(e) => e.kind(),
            PipelineError::Task(_) => ErrorKind::Bug,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PseudonymiseError {
    #[error("{file}:{line}: {reason}")]
    At { file: String, line: u64, reason: String },
    #[error("{file}: {source}")]
    Csv { file: String, source: csv::Error },
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

impl PseudonymiseError {
    /// The file's fault, except a failure to write the output.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PseudonymiseError::At { .. } | PseudonymiseError::Csv { .. } => ErrorKind::PartnerData,
            PseudonymiseError::Write(_) => ErrorKind::Infrastructure,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl ReferenceError {
    /// A reference file that cannot be read is fixed by whoever supplied
    /// it (ONS, MHCLG or a partner), not by loading it again.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReferenceError::File { .. } => ErrorKind::PartnerData,
            ReferenceError::Lake(e) => e.kind(),
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("another retention run is in progress (the lock in <lake>/_retention is held); wait for it to finish")]
    Busy,
    /// The operator asked for something the run refuses without a
    /// confirmation (an `--as-of` in the future).
    #[error("{0}")]
    Refused(String),
    #[error("retention journal {path}: {reason} (the journal is only written by `vru retention apply`: was it edited?)")]
    Journal { path: String, reason: String },
    /// Events a run erased still in a table's files after its DELETE: the
    /// run stays unfinished, and the next apply retries it.
    #[error("{left} erased events are still in {table}'s files after the DELETE; the run stays unfinished and the next apply retries it")]
    NotErased { table: String, left: u64 },
    #[error("building the run's record: {0}")]
    Record(String),
    #[error("retention run halted after step {0} (a test stop); the next apply completes it")]
    Halted(String),
}

impl RetentionError {
    /// A busy lock, a failing disk and an unfinished DELETE heal with time
    /// (the next apply completes the run); a refused option is the
    /// operator's; a journal or record that cannot be read or built is ours.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RetentionError::Lake(e) => e.kind(),
            RetentionError::Io { .. } | RetentionError::Busy | RetentionError::NotErased { .. } => ErrorKind::Infrastructure,
            RetentionError::Refused(_) | RetentionError::Halted(_) => ErrorKind::Configuration,
            RetentionError::Journal { .. } | RetentionError::Record(_) => ErrorKind::Bug,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind().retryable()
    }
}
