//! Kafka to Delta, exactly once. One `select!` loop: next message, flush
//! tick, shutdown. Events are buffered per table and flushed on size or age;
//! each table commit carries the offsets it covers as Delta `txn` actions,
//! and on start the consumer seeks from those, never from Kafka's committed
//! offsets. Event ids already in the lake are dropped, so a re-sent row or a
//! re-read file adds nothing. A message that cannot be decoded goes to the
//! dead-letter topic with its reason; the stream never stops for one.

use crate::dlq;
use crate::kafka::KafkaOptions;
use crate::lake::{self, Lake, LakeError};
use crate::producer::Watermarks;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, future_producer::DeliveryFuture};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use vru_model::Event;
use vru_model::ids::EventId;
use vru_model::tables::{Table, to_record_batch};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormaliserOptions {
    /// The broker's identity, when the caller knows it better than the
    /// broker's cluster id (the embedded broker: [`crate::kafka::EmbeddedBroker::identity`]).
    /// Lake offsets are kept per identity.
    #[serde(skip)]
    pub cluster_identity: Option<String>,
    /// Flush when this many events are buffered across tables.
    pub max_batch_rows: usize,
    /// ...or when the oldest buffered event is this old.
    pub max_batch_age_ms: u64,
    /// Consumer group, used only to publish offsets for lag monitoring.
    pub group_id: String,
    /// A table that receives nothing while its topic moves this many
    /// offsets on gets an offsets-only commit, bounding re-reads on restart.
    pub stale_offsets: i64,
    /// Longest wait between retries of a failed lake commit.
    pub max_retry_backoff_ms: u64,
    /// For a lake that has never read a partition: start at the oldest
    /// message the broker still has, accepting that retention may have
    /// deleted earlier ones. Off: such a gap is an error.
    pub start_from_earliest_available: bool,
    /// Larger messages are dead-lettered, not decoded: our events are under
    /// 2 KB, so a huge one is a misbehaving producer, and decoding it could
    /// cost the process its memory. Raise it and `vru dlq replay` if a
    /// legitimate producer needs more.
    pub max_message_bytes: usize,
}

impl Default for NormaliserOptions {
    fn default() -> Self {
        NormaliserOptions {
            cluster_identity: None,
            max_batch_rows: 50_000,
            max_batch_age_ms: 1_000,
            group_id: "vru-normaliser".into(),
            stale_offsets: 100_000,
            max_retry_backoff_ms: 30_000,
            start_from_earliest_available: false,
            max_message_bytes: 1 << 20,
        }
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
        "Kafka no longer holds offsets the lake has not read ({0}): messages were deleted before they reached the lake (retention shorter than the normaliser's lag). Stopped without skipping them; re-send the affected extracts, then restart"
    )]
    Gap(String),
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub messages: u64,
    pub events_written: u64,
    pub duplicates_dropped: u64,
    pub already_committed: u64,
    pub dead_lettered: u64,
    pub commits: u64,
    pub failed_commits: u64,
}

type Partition = (String, i32);

struct TableState {
    table: Table,
    delta: DeltaTable,
    ids: HashSet<EventId>,
    committed: HashMap<Partition, i64>,
    buffer: Vec<Event>,
}

pub struct Normaliser {
    opts: NormaliserOptions,
    kafka: KafkaOptions,
    consumer: StreamConsumer,
    dlq: FutureProducer,
    cluster_id: String,
    tables: BTreeMap<Table, TableState>,
    topic_tables: HashMap<String, Vec<Table>>,
    partitions: Vec<Partition>,
    positions: HashMap<Partition, i64>,
    watermarks: watch::Sender<Watermarks>,
    /// Offsets read (not yet durable): embedded ingest paces itself on these.
    read: watch::Sender<Watermarks>,
    pending_dlq: Vec<DeliveryFuture>,
    oldest: Option<Instant>,
    at_end: HashSet<Partition>,
    last_message: Instant,
    last_idle_check: Instant,
    /// Positions moved since the last flush.
    moved: bool,
    last_flush: Instant,
    pub stats: Stats,
}

fn app_id(cluster: &str, p: &Partition) -> String {
    format!("vru-normaliser:{cluster}:{}:{}", p.0, p.1)
}

impl Normaliser {
    /// Opens (creating if needed) every event table, loads the ids and
    /// offsets already in the lake and assigns every partition at the
    /// offset after the lowest one the lake records for it.
    pub async fn start(lake: &Lake, kafka: &KafkaOptions, bootstrap: &str, opts: NormaliserOptions) -> Result<Self, NormaliserError> {
        let consumer: StreamConsumer = kafka
            .client_config(bootstrap)
            .set("group.id", &opts.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Never jump: if the broker no longer has the next offset (retention
            // deleted unread messages), stop and say so rather than skip them.
            .set("auto.offset.reset", "error")
            // The local queue is bounded (16 MiB) and one fetch response is
            // at most 8 MiB, so a full queue is the normal state of a busy
            // normaliser; librdkafka then waits fetch.queue.backoff.ms before
            // fetching again, 1000 ms by default, which halved throughput.
            .set("queued.max.messages.kbytes", "16384")
            .set("fetch.max.bytes", "8388608")
            .set("fetch.queue.backoff.ms", "10")
            // A fetch that finds nothing new returns after 50 ms, not the
            // default 500: in embedded mode ingest waits for each chunk to be
            // read, and that wait was most of a big extract's time.
            .set("fetch.wait.max.ms", "50")
            .create()?;
        let dlq: FutureProducer = kafka.client_config(bootstrap).set("enable.idempotence", "true").create()?;
        let timeout = Duration::from_secs(30);
        let cluster_id = match &opts.cluster_identity {
            Some(id) => id.clone(),
            None => consumer.client().fetch_cluster_id(timeout).unwrap_or_else(|| format!("brokers={bootstrap}")),
        };
        let mut tables = BTreeMap::new();
        for t in Table::ALL {
            let delta = lake.open_or_create(t.name(), t.schema()).await?;
            let mut ids = lake::event_ids(&delta, t.name()).await?;
            // Erased events count as received: a re-sent copy of one is
            // dropped, never written back (retention's rule for re-sends).
            ids.extend(crate::retention::markers::erased(lake, t.name()).await?);
            tables.insert(*t, TableState { table: *t, delta, ids, committed: HashMap::new(), buffer: Vec::new() });
        }
        let topic_tables: HashMap<String, Vec<Table>> = kafka.event_topics().into_iter().collect();
        let mut partitions = Vec::new();
        let mut assignment = TopicPartitionList::new();
        for (topic, feeds) in &topic_tables {
            let md = consumer.fetch_metadata(Some(topic), timeout)?;
            let n = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
            for p in 0..n {
                let part = (topic.clone(), p);
                let app = app_id(&cluster_id, &part);
                // The lowest offset any of the topic's tables still needs. A
                // table with no record needs offset 0: starting at the broker's
                // "beginning" instead would silently skip whatever retention
                // has deleted; an explicit offset makes that an error.
                let mut lowest = i64::MAX;
                for t in feeds {
                    let st = tables.get_mut(t).expect("every table loaded");
                    let v = lake::txn_version(&st.delta, t.name(), &app).await?;
                    if let Some(v) = v {
                        st.committed.insert(part.clone(), v);
                    }
                    lowest = lowest.min(v.map_or(0, |v| v + 1));
                }
                let offset = if lowest == 0 && opts.start_from_earliest_available { Offset::Beginning } else { Offset::Offset(lowest) };
                tracing::info!(topic = %part.0, partition = p, ?offset, "assigning partition from lake offsets");
                assignment.add_partition_offset(topic, p, offset)?;
                partitions.push(part);
            }
        }
        consumer.assign(&assignment)?;
        let (watermarks, _) = watch::channel(Watermarks::new());
        let (read, _) = watch::channel(Watermarks::new());
        Ok(Normaliser {
            opts,
            kafka: kafka.clone(),
            consumer,
            dlq,
            cluster_id,
            tables,
            topic_tables,
            partitions,
            positions: HashMap::new(),
            watermarks,
            read,
            pending_dlq: Vec::new(),
            oldest: None,
            at_end: HashSet::new(),
            last_message: Instant::now(),
            last_idle_check: Instant::now(),
            moved: false,
            last_flush: Instant::now(),
            stats: Stats::default(),
        })
    }

    /// Offsets durable in the lake, for ingest to wait on in embedded mode.
    pub fn watermarks(&self) -> watch::Receiver<Watermarks> {
        self.watermarks.subscribe()
    }

    /// Offsets read so far (next offset per partition), published every few
    /// hundred messages: the embedded broker deletes old messages beyond a
    /// few megabytes per partition, so ingest must not run ahead of reading.
    pub fn read_positions(&self) -> watch::Receiver<Watermarks> {
        self.read.subscribe()
    }

    fn publish_read_positions(&self) {
        let read: Watermarks = self.positions.iter().map(|(p, o)| (p.clone(), o + 1)).collect();
        self.read.send_modify(|w| w.extend(read));
    }

    fn buffered(&self) -> usize {
        self.tables.values().map(|t| t.buffer.len()).sum()
    }

    /// Runs until `shutdown` resolves (then flushes what it holds) or, with
    /// `exit_when_idle`, until every partition has been read to its end.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>, exit_when_idle: bool) -> Result<Stats, NormaliserError> {
        tokio::pin!(shutdown);
        let age = Duration::from_millis(self.opts.max_batch_age_ms);
        // Frequent ticks publish read positions promptly (embedded ingest
        // waits on them); flushing still follows the batch age.
        let mut tick = tokio::time::interval((age / 4).clamp(Duration::from_millis(20), Duration::from_millis(50)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    self.publish_read_positions();
                    let idle = self.idle();
                    // Also flush when only duplicates or dead letters arrived:
                    // nothing to write, but their offsets become durable.
                    let due = self.oldest.is_some_and(|o| o.elapsed() >= age)
                        || (self.moved && (idle || self.last_flush.elapsed() >= age));
                    if due {
                        self.flush_retrying(&mut shutdown).await?;
                    }
                    if idle && exit_when_idle && self.buffered() == 0 && !self.moved {
                        break;
                    }
                }
                m = self.consumer.recv() => match m {
                    Ok(msg) => {
                        let msg = msg.detach();
                        self.last_message = Instant::now();
                        self.handle(&msg);
                        if self.stats.messages.is_multiple_of(256) {
                            self.publish_read_positions();
                        }
                        if self.buffered() >= self.opts.max_batch_rows {
                            self.flush_retrying(&mut shutdown).await?;
                        }
                    }
                    Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) || e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                        self.flush_retrying(&mut shutdown).await?;
                        return Err(NormaliserError::Gap(e.to_string()));
                    }
                    Err(e) => tracing::warn!(error = %e, code = ?e.rdkafka_error_code(), "Kafka consumer error (retrying)"),
                }
            }
        }
        self.flush_retrying(&mut std::future::pending::<()>()).await?;
        Ok(self.stats.clone())
    }

    /// True when nothing arrived for a while and every partition has been
    /// read to its high watermark. Asking the broker for watermarks blocks
    /// briefly, so it is asked at most every 200 ms and only when quiet.
    fn idle(&mut self) -> bool {
        let quiet = Duration::from_millis(200);
        if self.last_message.elapsed() < quiet || self.last_idle_check.elapsed() < quiet {
            return self.at_end.len() == self.partitions.len();
        }
        self.last_idle_check = Instant::now();
        for p in self.partitions.clone() {
            if self.at_end.contains(&p) {
                continue;
            }
            let Ok((low, high)) = self.consumer.fetch_watermarks(&p.0, p.1, Duration::from_secs(5)) else { continue };
            let done = match self.positions.get(&p) {
                Some(pos) => pos + 1 >= high,
                None => high == low || self.lake_has_all(&p, high),
            };
            if done {
                self.at_end.insert(p);
            }
        }
        self.at_end.len() == self.partitions.len()
    }

    /// True when the lake records every offset below `high` for this partition.
    fn lake_has_all(&self, p: &Partition, high: i64) -> bool {
        self.topic_tables
            .get(&p.0)
            .is_some_and(|feeds| feeds.iter().all(|t| self.tables[t].committed.get(p).is_some_and(|c| c + 1 >= high)))
    }

    fn handle(&mut self, msg: &rdkafka::message::OwnedMessage) {
        let part: Partition = (msg.topic().to_string(), msg.partition());
        let offset = msg.offset();
        self.stats.messages += 1;
        self.at_end.remove(&part);
        self.positions.insert(part.clone(), offset);
        self.moved = true;
        let decoded = match msg.payload() {
            None => Err("message has no payload".to_string()),
            Some(p) if p.len() > self.opts.max_message_bytes => {
                Err(format!("message of {} bytes is over normaliser.max_message_bytes ({})", p.len(), self.opts.max_message_bytes))
            }
            Some(p) => Event::from_json(p).map_err(|e| e.to_string()),
        };
        let event = match decoded {
            Ok(e) => e,
            Err(reason) => return self.dead_letter(msg, &reason),
        };
        let table = event.table();
        if !self.topic_tables.get(&part.0).is_some_and(|feeds| feeds.contains(&table)) {
            let reason = format!(
                "a {} event does not belong on topic {} (expected {})",
                event.envelope.kind,
                part.0,
                self.kafka.topic(event.envelope.source)
            );
            return self.dead_letter(msg, &reason);
        }
        let st = self.tables.get_mut(&table).expect("every table loaded");
        if st.committed.get(&part).is_some_and(|c| offset <= *c) {
            self.stats.already_committed += 1;
            return;
        }
        if !st.ids.insert(event.envelope.event_id) {
            self.stats.duplicates_dropped += 1;
            return;
        }
        st.buffer.push(event);
        self.oldest.get_or_insert_with(Instant::now);
    }

    fn dead_letter(&mut self, msg: &rdkafka::message::OwnedMessage, reason: &str) {
        // A decoder quotes what it could not read: never an identifier.
        let reason = &vru_model::identifiers::scrub_quoted(reason);
        tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), %reason, "message sent to the dead-letter topic");
        self.stats.dead_lettered += 1;
        let topic = self.kafka.dlq_topic();
        self.pending_dlq.extend(dlq::send(&self.dlq, &topic, msg, reason));
    }

    /// Retries a failed flush with backoff, consuming nothing meanwhile, so
    /// Kafka keeps the events and no offset moves past them.
    async fn flush_retrying(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<(), NormaliserError> {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.flush().await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.stats.failed_commits += 1;
                    let pending = self.buffered();
                    tracing::error!(error = %e, pending, retry_in_ms = backoff.as_millis() as u64, "lake commit failed; offsets not advanced, will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut *shutdown => return Err(NormaliserError::StoppedWithPending(pending)),
                    }
                    backoff = (backoff * 2).min(Duration::from_millis(self.opts.max_retry_backoff_ms));
                    self.reload_tables().await;
                }
            }
        }
    }

    /// After a failed commit: another writer may have moved a table on (a
    /// retention deletion removes files this commit's snapshot still
    /// lists, which Delta reports as a conflict), so the retry starts from
    /// each table's latest version. Buffered events are kept.
    async fn reload_tables(&mut self) {
        for st in self.tables.values_mut() {
            if let Err(e) = lake::refresh(&mut st.delta, st.table.name()).await {
                tracing::warn!(table = st.table.name(), error = %e, "cannot reload the table; retrying from the old snapshot");
            }
        }
    }

    async fn flush(&mut self) -> Result<(), NormaliserError> {
        for f in self.pending_dlq.drain(..) {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => tracing::error!(error = %e, "dead-letter message not delivered"),
                Err(_) => tracing::error!("dead-letter delivery cancelled"),
            }
        }
        let positions = self.positions.clone();
        for st in self.tables.values_mut() {
            let topic = self.kafka.topic(st.table.source());
            let txns: Vec<(Partition, i64)> = positions.iter().filter(|(p, _)| p.0 == topic).map(|(p, o)| (p.clone(), *o)).collect();
            // Offsets-only commits keep idle tables' records current: a table
            // with no record at all, or far behind, would hold restarts back.
            let stale = txns.iter().any(|(p, o)| st.committed.get(p).is_none_or(|c| o - c > self.opts.stale_offsets));
            if st.buffer.is_empty() && !stale {
                continue;
            }
            let actions: Vec<Transaction> = txns.iter().map(|(p, o)| Transaction::new(app_id(&self.cluster_id, p), *o)).collect();
            let started = Instant::now();
            let rows = st.buffer.len();
            st.delta = if rows == 0 {
                lake::commit_offsets_only(&st.delta, st.table.name(), actions).await?
            } else {
                let refs: Vec<&Event> = st.buffer.iter().collect();
                let batch = to_record_batch(st.table, &refs)
                    .map_err(|e| LakeError::Invalid { table: st.table.name().into(), reason: e.to_string() })?;
                lake::append(&st.delta, st.table.name(), batch, actions).await?
            };
            st.buffer.clear();
            st.committed.extend(txns);
            self.stats.commits += 1;
            self.stats.events_written += rows as u64;
            tracing::info!(
                table = st.table.name(),
                rows,
                version = st.delta.version(),
                ms = started.elapsed().as_millis() as u64,
                "committed to lake"
            );
        }
        self.oldest = None;
        self.moved = false;
        self.last_flush = Instant::now();
        let marks: Watermarks = positions.iter().map(|(p, o)| (p.clone(), o + 1)).collect();
        let mut tpl = TopicPartitionList::new();
        for ((t, p), next) in &marks {
            let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*next));
        }
        if tpl.count() > 0 {
            let _ = self.consumer.commit(&tpl, CommitMode::Async);
        }
        self.watermarks.send_modify(|w| w.extend(marks));
        Ok(())
    }
}
