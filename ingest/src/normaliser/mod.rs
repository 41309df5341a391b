//! Kafka to Delta, exactly once. One `select!` loop: next message, flush
//! tick, a flight landing, shutdown. Events are buffered per table and
//! flushed on size or age; a flush takes the buffer out as a flight whose
//! commits run on a worker thread ([`commit`]) while reading goes on, one
//! flight at a time, and its offsets count as durable only once it lands;
//! each table commit carries the offsets it covers as Delta `txn` actions,
//! and on start the consumer seeks from those, never from Kafka's committed
//! offsets. Event ids already in the lake are dropped, so a re-sent row or a
//! re-read file adds nothing. A message that cannot be decoded goes to the
//! dead-letter topic with its reason; the stream never stops for one.
//!
//! This module is the I/O shell: it receives, appends and sends dead
//! letters. Every decision (start offsets, what a message is, when to
//! flush, what each commit carries) is made by [`state::State`], which
//! knows no Kafka, Delta or clock and is tested alone.

mod commit;
pub mod state;

use crate::dlq;
use crate::kafka::KafkaOptions;
use crate::lake::{self, Lake};
use commit::{Committer, Landed};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, future_producer::DeliveryFuture};
use rdkafka::{Message, Offset, TopicPartitionList};
use state::{Commit, Limits, Outcome, Partition, State, Watermarks};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use vru_model::tables::Table;
use vru_model::{Event, Source};

pub use crate::error::NormaliserError;
pub use state::Stats;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormaliserOptions {
    /// The broker's identity, when the caller knows it better than the
    /// broker's cluster id (the embedded broker: [`crate::kafka::EmbeddedBroker::identity`]).
    /// Lake offsets are kept per identity.
    #[serde(skip)]
    pub cluster_identity: Option<String>,
    /// Flush when this many events are buffered across tables. One flush
    /// may be committing while the next fills, so up to twice this many
    /// events are held in memory.
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
    /// Bytes of the lake files' footers and event-id filters kept in
    /// memory between commits, for all tables; past it they are read again
    /// from storage. Bounds the normaliser's memory however long the
    /// history.
    pub id_filter_cache_bytes: usize,
    /// The sources whose topics (and so tables) this normaliser owns;
    /// empty: all. Several normalisers share one lake when each owns a
    /// disjoint set: they write disjoint tables, so their commits never
    /// conflict. Overlapping sets are refused at the first commit
    /// ([`NormaliserError::Conflict`]), never written twice.
    pub sources: Vec<Source>,
    /// A name for the broker's log, kept with the lake's offsets beside the
    /// broker's cluster id. Change it only after a broker was reset or
    /// replaced with the same cluster id (a fixed `KAFKA_CLUSTER_ID` in a
    /// compose file does this), which the normaliser refuses to read
    /// ([`NormaliserError::BrokerBehindLake`]): offsets then start afresh,
    /// and events the lake already holds are still known by their ids.
    pub lineage: String,
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
            id_filter_cache_bytes: 64 << 20,
            sources: Vec::new(),
            lineage: String::new(),
        }
    }
}

pub struct Normaliser {
    kafka: KafkaOptions,
    consumer: StreamConsumer,
    dlq: FutureProducer,
    /// The table handles and id lookup; `None` while a flight has them.
    committer: Option<Committer>,
    /// The commits running while reading goes on (at most one flight).
    flight: Option<tokio::task::JoinHandle<FlightDone>>,
    /// What becomes durable when the flight in the air has landed.
    flight_marks: Watermarks,
    state: State,
    partitions: Vec<Partition>,
    watermarks: watch::Sender<Watermarks>,
    /// Offsets read (not yet durable): embedded ingest paces itself on these.
    read: watch::Sender<Watermarks>,
    pending_dlq: Vec<DeliveryFuture>,
    at_end: HashSet<Partition>,
    last_message: Instant,
    last_idle_check: Instant,
    /// When the partitions' lag was last published ([`crate::metrics`]).
    last_lag: Instant,
    batch_age: Duration,
    max_retry_backoff: Duration,
}

/// A broker whose log ends before offsets the lake has committed is not
/// the log the lake read: it was reset or replaced keeping its cluster id.
/// Reading it would take its new messages for ones already written (their
/// offsets are at or below the lake's) and lose them without a word, so
/// the normaliser refuses to start and says how to go on.
fn refuse_a_broker_behind_the_lake(
    consumer: &StreamConsumer,
    state: &State,
    partitions: &[Partition],
    timeout: Duration,
) -> Result<(), NormaliserError> {
    for part in partitions {
        let lake_next = state.lake_next(part);
        if lake_next == 0 {
            continue;
        }
        let (_, high) = consumer.fetch_watermarks(&part.0, part.1, timeout)?;
        if high < lake_next {
            return Err(NormaliserError::BrokerBehindLake { partition: format!("{}[{}]", part.0, part.1), lake_next, high });
        }
    }
    Ok(())
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
        let mut cluster_id = match &opts.cluster_identity {
            Some(id) => id.clone(),
            None => consumer.client().fetch_cluster_id(timeout).unwrap_or_else(|| format!("brokers={bootstrap}")),
        };
        if !opts.lineage.is_empty() {
            cluster_id = format!("{cluster_id}/{}", opts.lineage);
        }
        let owned = |t: &Table| opts.sources.is_empty() || opts.sources.contains(&t.source());
        let topic_tables: HashMap<String, Vec<Table>> =
            kafka.event_topics().into_iter().filter(|(_, tables)| tables.iter().any(owned)).collect();
        let mut partitions = Vec::new();
        for topic in topic_tables.keys() {
            let md = consumer.fetch_metadata(Some(topic), timeout)?;
            let n = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
            partitions.extend((0..n).map(|p| (topic.clone(), p)));
        }
        let limits = Limits {
            max_batch_rows: opts.max_batch_rows,
            max_batch_age: Duration::from_millis(opts.max_batch_age_ms),
            stale_offsets: opts.stale_offsets,
            max_message_bytes: opts.max_message_bytes,
        };
        let mut state = State::new(limits, topic_tables, Instant::now());
        let mut deltas = BTreeMap::new();
        for t in Table::ALL.iter().filter(|t| owned(t)) {
            let delta = lake.open_or_create(t.name(), t.schema()).await?;
            // Erased events count as received: a re-sent copy of one is
            // dropped, never written back (retention's rule for re-sends).
            // The ids the lake holds are not loaded: each commit asks.
            let erased = crate::retention::markers::erased(lake, t.name()).await?;
            let mut committed = HashMap::new();
            let topic = kafka.topic(t.source());
            for part in partitions.iter().filter(|p| p.0 == topic) {
                if let Some(v) = lake::txn_version(&delta, t.name(), &app_id(&cluster_id, part)).await? {
                    committed.insert(part.clone(), v);
                }
            }
            state.load_table(*t, erased, committed);
            deltas.insert(*t, delta);
        }
        refuse_a_broker_behind_the_lake(&consumer, &state, &partitions, timeout)?;
        let mut assignment = TopicPartitionList::new();
        for part in &partitions {
            let lowest = state.start_offset(part);
            let offset = if lowest == 0 && opts.start_from_earliest_available { Offset::Beginning } else { Offset::Offset(lowest) };
            tracing::info!(topic = %part.0, partition = part.1, ?offset, "assigning partition from lake offsets");
            assignment.add_partition_offset(&part.0, part.1, offset)?;
        }
        consumer.assign(&assignment)?;
        let (watermarks, _) = watch::channel(Watermarks::new());
        let (read, _) = watch::channel(Watermarks::new());
        Ok(Normaliser {
            kafka: kafka.clone(),
            consumer,
            dlq,
            committer: Some(Committer { cluster_id, deltas, lookup: lake::IdLookup::new(opts.id_filter_cache_bytes) }),
            flight: None,
            flight_marks: Watermarks::new(),
            state,
            partitions,
            watermarks,
            read,
            pending_dlq: Vec::new(),
            at_end: HashSet::new(),
            last_message: Instant::now(),
            last_idle_check: Instant::now(),
            last_lag: Instant::now(),
            batch_age: Duration::from_millis(opts.max_batch_age_ms),
            max_retry_backoff: Duration::from_millis(opts.max_retry_backoff_ms),
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
        let read = self.state.read_positions();
        self.read.send_modify(|w| w.extend(read));
    }

    /// Runs until `shutdown` resolves (then flushes what it holds) or, with
    /// `exit_when_idle`, until every partition has been read to its end.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>, exit_when_idle: bool) -> Result<Stats, NormaliserError> {
        tokio::pin!(shutdown);
        // Frequent ticks publish read positions promptly (embedded ingest
        // waits on them); flushing still follows the batch age.
        let mut tick = tokio::time::interval((self.batch_age / 4).clamp(Duration::from_millis(20), Duration::from_millis(50)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    self.publish_read_positions();
                    self.publish_lag();
                    let idle = self.idle();
                    // A due flush waits for the flight in the air to land
                    // (the branch below) rather than stopping the reading.
                    if self.flight.is_none() && self.state.due(Instant::now(), idle) {
                        self.flush(&mut shutdown).await?;
                    }
                    if idle && exit_when_idle && self.state.settled() && self.flight.is_none() {
                        break;
                    }
                }
                done = async { self.flight.as_mut().expect("guarded by the condition").await }, if self.flight.is_some() => {
                    self.flight = None;
                    self.land(joined(done), &mut shutdown).await?;
                }
                m = self.consumer.recv() => match m {
                    Ok(msg) => {
                        // Decoded where librdkafka holds it: no copy of
                        // the payload per message.
                        let now = Instant::now();
                        self.last_message = now;
                        let mut handler = Handler { state: &mut self.state, at_end: &mut self.at_end, dlq: &self.dlq, kafka: &self.kafka, pending_dlq: &mut self.pending_dlq };
                        handler.handle(&msg, now);
                        drop(msg);
                        if self.state.stats.messages.is_multiple_of(256) {
                            self.publish_read_positions();
                        }
                        if self.state.full() {
                            self.flush(&mut shutdown).await?;
                        }
                    }
                    Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) || e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                        self.flush(&mut shutdown).await?;
                        self.wait_for_flight(&mut shutdown).await?;
                        return Err(NormaliserError::Gap(e.to_string()));
                    }
                    Err(e) => tracing::warn!(error = %e, code = ?e.rdkafka_error_code(), "Kafka consumer error (retrying)"),
                }
            }
        }
        let mut never = std::future::pending::<()>();
        self.flush(&mut never).await?;
        self.wait_for_flight(&mut never).await?;
        Ok(self.state.stats.clone())
    }

    /// True when nothing arrived for a while and every partition has been
    /// read to its high watermark. Checked at most every 100 ms and only
    /// when quiet: a partition the cached watermark does not settle is
    /// asked of the broker, which blocks.
    fn idle(&mut self) -> bool {
        let quiet = Duration::from_millis(100);
        if self.last_message.elapsed() < quiet || self.last_idle_check.elapsed() < quiet {
            return self.at_end.len() == self.partitions.len();
        }
        self.last_idle_check = Instant::now();
        for p in self.partitions.clone() {
            if self.at_end.contains(&p) {
                continue;
            }
            // The high watermark of the last fetch response first: asking
            // the broker queues behind the fetch in flight on the same
            // connection (up to fetch.wait.max.ms), which for 30 partitions
            // was 1.5 s of every --until-idle run's end. The cached one is
            // at most one fetch old, and a partition it does not settle is
            // still asked.
            let read_to = |high: i64| self.state.position(&p).is_some_and(|pos| pos + 1 >= high);
            let cached = cached_high_watermark(&self.consumer, &p.0, p.1);
            let done = cached.is_some_and(|high| read_to(high) || self.state.lake_has_all(&p, high))
                || match self.consumer.fetch_watermarks(&p.0, p.1, Duration::from_secs(5)) {
                    Ok((low, high)) => {
                        read_to(high) || (self.state.position(&p).is_none() && high == low) || self.state.lake_has_all(&p, high)
                    }
                    Err(_) => false,
                };
            if done {
                self.at_end.insert(p);
            }
        }
        self.at_end.len() == self.partitions.len()
    }

    /// Each partition's lag (high watermark minus next offset to read),
    /// once a second, from the high watermark librdkafka keeps from its
    /// fetch responses: no request to the broker, so it costs the
    /// consume loop nothing while busy (when it matters most).
    fn publish_lag(&mut self) {
        if self.last_lag.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_lag = Instant::now();
        for p in &self.partitions {
            let Some(high) = cached_high_watermark(&self.consumer, &p.0, p.1) else { continue };
            let next = self.state.position(p).map_or(0, |pos| pos + 1);
            crate::metrics::global().lag(&p.0, p.1, high - next);
        }
    }

    /// Lands the flight in the air, if any, then sends the buffer's
    /// commits off as the next flight.
    async fn flush(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<(), NormaliserError> {
        self.wait_for_flight(shutdown).await?;
        // A dead letter's offset becomes durable only once it is delivered.
        for f in self.pending_dlq.drain(..) {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => tracing::error!(error = %e, "dead-letter message not delivered"),
                Err(_) => tracing::error!("dead-letter delivery cancelled"),
            }
        }
        let flight = self.state.take_flight(Instant::now());
        tracing::debug!(commits = flight.commits.len(), rows = flight.commits.iter().map(|(_, r)| r.len()).sum::<usize>(), "flush");
        self.flight_marks = flight.marks;
        if flight.commits.is_empty() {
            self.publish_durable();
            return Ok(());
        }
        let mut committer = self.committer.take().expect("no flight in the air");
        let mut commits = flight.commits;
        self.flight = Some(tokio::spawn(async move {
            let mut landed = Vec::new();
            let result = committer.fly(&mut commits, &mut landed).await;
            (committer, commits, landed, result)
        }));
        Ok(())
    }

    async fn wait_for_flight(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<(), NormaliserError> {
        if let Some(flight) = self.flight.take() {
            self.land(joined(flight.await), shutdown).await?;
        }
        Ok(())
    }

    /// Records what a flight committed. What failed is retried with
    /// backoff, reading nothing meanwhile, so Kafka keeps the events and no
    /// offset moves past them; what cannot heal
    /// ([`NormaliserError::retryable`]) stops the normaliser instead.
    async fn land(&mut self, done: FlightDone, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<(), NormaliserError> {
        let (mut committer, mut commits, landed, mut result) = done;
        self.record(landed);
        let mut backoff = Duration::from_millis(250);
        loop {
            match result {
                Ok(()) => break,
                // A conflict with another writer, or a batch that does not
                // fit its table, would fail the same way forever.
                Err(e) if !e.retryable() => return Err(e),
                Err(e) => {
                    self.state.stats.failed_commits += 1;
                    crate::metrics::global().commit(false, 0.0);
                    let pending = commits.iter().map(|(_, rows)| rows.len()).sum::<usize>() + self.state.buffered();
                    tracing::error!(error = %e, pending, retry_in_ms = backoff.as_millis() as u64, "lake commit failed; offsets not advanced, will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut *shutdown => return Err(NormaliserError::StoppedWithPending(pending)),
                    }
                    backoff = (backoff * 2).min(self.max_retry_backoff);
                    committer.reload_tables().await;
                    let mut landed = Vec::new();
                    result = committer.fly(&mut commits, &mut landed).await;
                    self.record(landed);
                }
            }
        }
        self.committer = Some(committer);
        self.publish_durable();
        Ok(())
    }

    fn record(&mut self, landed: Vec<Landed>) {
        for Landed { table, txns, written, dropped } in landed {
            self.state.landed(table, txns, written, dropped);
        }
    }

    /// Every commit of the flight is in: its offsets are durable, for
    /// ingest in embedded mode and for Kafka's lag monitoring.
    fn publish_durable(&mut self) {
        let marks = std::mem::take(&mut self.flight_marks);
        let mut tpl = TopicPartitionList::new();
        for ((t, p), next) in &marks {
            let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*next));
        }
        if tpl.count() > 0 {
            let _ = self.consumer.commit(&tpl, CommitMode::Async);
        }
        self.watermarks.send_modify(|w| w.extend(marks));
    }
}

/// What a flight hands back: the committer, the commits that did not land
/// (after an error), the ones that did, and how it ended.
type FlightDone = (Committer, Vec<(Commit, Vec<Event>)>, Vec<Landed>, Result<(), NormaliserError>);

/// What deciding one message touches: the fields of [`Normaliser`] other
/// than the consumer, which lends the message (a borrowed message keeps
/// the consumer borrowed, so this cannot be a `&mut self` method).
struct Handler<'a> {
    state: &'a mut State,
    at_end: &'a mut HashSet<Partition>,
    dlq: &'a FutureProducer,
    kafka: &'a KafkaOptions,
    pending_dlq: &'a mut Vec<DeliveryFuture>,
}

impl Handler<'_> {
    fn handle(&mut self, msg: &impl Message, now: Instant) {
        let part: Partition = (msg.topic().to_string(), msg.partition());
        self.at_end.remove(&part);
        let outcome = self.state.handle(&part, msg.offset(), msg.payload(), now);
        crate::metrics::global().message(&outcome);
        if let Outcome::DeadLetter(reason) = outcome {
            // A decoder quotes what it could not read: never an identifier.
            let reason = &vru_model::identifiers::scrub_quoted(&reason);
            tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), %reason, "message sent to the dead-letter topic");
            let topic = self.kafka.dlq_topic();
            self.pending_dlq.extend(dlq::send(self.dlq, &topic, msg, reason));
        }
    }
}

/// A flight that panicked panics the loop, as it would have before
/// commits ran on their own task.
fn joined(r: Result<FlightDone, tokio::task::JoinError>) -> FlightDone {
    r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The high watermark librdkafka last saw for a partition (from fetch
/// responses), without asking the broker; `None` before the first fetch.
/// rdkafka does not wrap `rd_kafka_get_watermark_offsets`, so it is called
/// here.
fn cached_high_watermark(consumer: &StreamConsumer, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer lives as long as `consumer`; the topic is
    // a NUL-terminated string that outlives the call; librdkafka only
    // writes the two out-parameters.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
