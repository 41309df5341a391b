//! The normaliser's decisions, without Kafka, Delta or a clock: where each
//! partition starts from the offsets the lake records, what happens to each
//! message (buffered, a duplicate, already in the lake, dead-lettered),
//! when a flush is due, and what each table's commit carries. The async
//! shell (`super`) receives messages, hands them here with the time, and
//! carries out the plans; every rule is tested below without a broker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use vru_model::Event;
use vru_model::ids::EventId;
use vru_model::tables::Table;

/// A topic and partition.
pub type Partition = (String, i32);

/// Per topic and partition, the next offset not yet durable in the lake.
pub type Watermarks = HashMap<Partition, i64>;

/// Sets and maps touched for every message. Their keys come from the
/// wire, so the hasher is still randomly seeded per map (foldhash's, not
/// SipHash: hashing was ~2% of the consume loop's time).
type IdSet = HashSet<EventId, foldhash::fast::RandomState>;
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Held for the next commit of its table.
    Buffered(Table),
    /// Its event id is buffered already, or was erased (a re-sent row).
    /// One already in the lake is found when its table commits
    /// ([`State::drop_present`]).
    Duplicate,
    /// Its offset is at or below what the lake records for its table.
    AlreadyCommitted,
    /// Cannot be an event of this topic: sent to the dead-letter topic.
    DeadLetter(String),
}

/// The limits the rules use (from `NormaliserOptions`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_batch_rows: usize,
    pub max_batch_age: Duration,
    pub stale_offsets: i64,
    pub max_message_bytes: usize,
}

/// One table's commit: its buffered rows ([`State::rows`]; none for an
/// offsets-only commit) and the offset of each partition it records as
/// `txn`.
#[derive(Debug)]
pub struct Commit {
    pub table: Table,
    pub txns: Vec<(Partition, i64)>,
}

struct TableState {
    /// Events retention erased (markers are kept while Kafka may still
    /// hold a copy, so this set is bounded by Kafka's retention, not by
    /// history).
    erased: IdSet,
    /// The ids in `buffer`.
    pending: IdSet,
    /// The ids of the commit in flight ([`State::take_flight`]): a copy
    /// arriving meanwhile is a duplicate, as if they were still buffered.
    flying: IdSet,
    committed: HashMap<Partition, i64>,
    buffer: Vec<Event>,
}

pub struct State {
    limits: Limits,
    topic_tables: HashMap<String, Vec<Table>>,
    table_topic: HashMap<Table, String>,
    tables: BTreeMap<Table, TableState>,
    positions: FastMap<Partition, i64>,
    oldest: Option<Instant>,
    /// Positions moved since the last flush.
    moved: bool,
    last_flush: Instant,
    pub stats: Stats,
}

impl State {
    /// `topic_tables`: which tables each topic feeds.
    pub fn new(limits: Limits, topic_tables: HashMap<String, Vec<Table>>, now: Instant) -> Self {
        let table_topic = topic_tables.iter().flat_map(|(topic, ts)| ts.iter().map(move |t| (*t, topic.clone()))).collect();
        State {
            limits,
            topic_tables,
            table_topic,
            tables: BTreeMap::new(),
            positions: FastMap::default(),
            oldest: None,
            moved: false,
            last_flush: now,
            stats: Stats::default(),
        }
    }

    /// What the lake records for a table: the events retention erased (so
    /// a re-sent copy is never written back) and its `txn` offsets. The
    /// ids it holds are not loaded: a commit asks the lake about its own
    /// rows ([`State::pending_ids`], [`State::drop_present`]).
    pub fn load_table(&mut self, table: Table, erased: HashSet<EventId>, committed: HashMap<Partition, i64>) {
        let erased = erased.into_iter().collect();
        self.tables
            .insert(table, TableState { erased, pending: IdSet::default(), flying: IdSet::default(), committed, buffer: Vec::new() });
    }

    /// The offset after the highest one any table this partition feeds has
    /// committed: the broker must hold at least this many messages, or it
    /// is not the log the lake read.
    pub fn lake_next(&self, part: &Partition) -> i64 {
        let feeds = self.topic_tables.get(&part.0).map(Vec::as_slice).unwrap_or_default();
        feeds.iter().filter_map(|t| self.tables.get(t).and_then(|s| s.committed.get(part))).map(|c| c + 1).max().unwrap_or(0)
    }

    pub fn topic_tables(&self) -> &HashMap<String, Vec<Table>> {
        &self.topic_tables
    }

    /// Where to start reading a partition: after the lowest offset any table
    /// it feeds has committed, and 0 when one has committed none (an
    /// explicit 0, so messages retention deleted show as a gap, not a skip).
    pub fn start_offset(&self, part: &Partition) -> i64 {
        let feeds = self.topic_tables.get(&part.0).map(Vec::as_slice).unwrap_or_default();
        feeds.iter().map(|t| self.tables.get(t).and_then(|s| s.committed.get(part)).map_or(0, |c| c + 1)).min().unwrap_or(0)
    }

    /// Decides one message. `payload` is `None` for a message without one.
    pub fn handle(&mut self, part: &Partition, offset: i64, payload: Option<&[u8]>, now: Instant) -> Outcome {
        self.stats.messages += 1;
        match self.positions.get_mut(part) {
            Some(p) => *p = offset,
            None => {
                self.positions.insert(part.clone(), offset);
            }
        }
        self.moved = true;
        let outcome = self.decide(part, offset, payload);
        match &outcome {
            Outcome::Buffered(_) => {
                self.oldest.get_or_insert(now);
            }
            Outcome::Duplicate => self.stats.duplicates_dropped += 1,
            Outcome::AlreadyCommitted => self.stats.already_committed += 1,
            Outcome::DeadLetter(_) => self.stats.dead_lettered += 1,
        }
        outcome
    }

    fn decide(&mut self, part: &Partition, offset: i64, payload: Option<&[u8]>) -> Outcome {
        let event = match payload {
            None => return Outcome::DeadLetter("message has no payload".into()),
            Some(p) if p.len() > self.limits.max_message_bytes => {
                return Outcome::DeadLetter(format!(
                    "message of {} bytes is over normaliser.max_message_bytes ({})",
                    p.len(),
                    self.limits.max_message_bytes
                ));
            }
            Some(p) => match Event::from_json(p) {
                Ok(e) => e,
                Err(e) => return Outcome::DeadLetter(e.to_string()),
            },
        };
        let table = event.table();
        if !self.topic_tables.get(&part.0).is_some_and(|feeds| feeds.contains(&table)) {
            let expected = self.table_topic.get(&table).map_or("none", String::as_str);
            return Outcome::DeadLetter(format!(
                "a {} event does not belong on topic {} (expected {expected})",
                event.envelope.kind, part.0
            ));
        }
        let Some(st) = self.tables.get_mut(&table) else {
            return Outcome::DeadLetter(format!("table {} is not loaded", table.name()));
        };
        if st.committed.get(part).is_some_and(|c| offset <= *c) {
            return Outcome::AlreadyCommitted;
        }
        let id = event.envelope.event_id;
        if st.erased.contains(&id) || st.flying.contains(&id) || !st.pending.insert(id) {
            return Outcome::Duplicate;
        }
        st.buffer.push(event);
        Outcome::Buffered(table)
    }

    pub fn buffered(&self) -> usize {
        self.tables.values().map(|t| t.buffer.len()).sum()
    }

    /// The buffer is full: flush now, before reading more.
    pub fn full(&self) -> bool {
        self.buffered() >= self.limits.max_batch_rows
    }

    /// A flush is due: the oldest buffered event is `max_batch_age` old, or
    /// positions moved (duplicates, dead letters) and the stream is idle or
    /// the last flush is that old, so their offsets become durable too.
    pub fn due(&self, now: Instant, idle: bool) -> bool {
        let age = self.limits.max_batch_age;
        self.oldest.is_some_and(|o| now.duration_since(o) >= age) || (self.moved && (idle || now.duration_since(self.last_flush) >= age))
    }

    /// Nothing buffered and no position moved since the last flush.
    pub fn settled(&self) -> bool {
        self.buffered() == 0 && !self.moved
    }

    /// True when the lake records every offset below `high` for `part`.
    pub fn lake_has_all(&self, part: &Partition, high: i64) -> bool {
        self.topic_tables.get(&part.0).is_some_and(|feeds| {
            feeds.iter().all(|t| self.tables.get(t).and_then(|s| s.committed.get(part)).is_some_and(|c| c + 1 >= high))
        })
    }

    pub fn position(&self, part: &Partition) -> Option<i64> {
        self.positions.get(part).copied()
    }

    /// Next offset to read per partition.
    pub fn read_positions(&self) -> Watermarks {
        self.positions.iter().map(|(p, o)| (p.clone(), o + 1)).collect()
    }

    /// The commits a flush makes, in table order: every table with rows,
    /// and every table whose record of a partition is missing or more than
    /// `stale_offsets` behind (an offsets-only commit, so an idle table
    /// does not hold restarts back). Each carries the current position of
    /// every partition of its topic that is past the table's record.
    pub fn plan_flush(&self) -> Vec<Commit> {
        let mut out = Vec::new();
        for (table, st) in &self.tables {
            let Some(topic) = self.table_topic.get(table) else { continue };
            // Never backwards: a partition re-read below this table's record
            // (another table of the topic needed it) keeps its record.
            let mut txns: Vec<(Partition, i64)> = self
                .positions
                .iter()
                .filter(|(p, o)| &p.0 == topic && st.committed.get(*p).is_none_or(|c| *o > c))
                .map(|(p, o)| (p.clone(), *o))
                .collect();
            txns.sort();
            let stale = txns.iter().any(|(p, o)| st.committed.get(p).is_none_or(|c| o - c > self.limits.stale_offsets));
            if st.buffer.is_empty() && !stale {
                continue;
            }
            out.push(Commit { table: *table, txns });
        }
        out
    }

    /// Takes what a flush commits out of the buffer, so reading goes on
    /// while the commits run: the planned commits with their rows, and the
    /// offsets that become durable when all of them are in. The rows' ids
    /// stay known ([`TableState::flying`]) until their commit lands.
    pub fn take_flight(&mut self, now: Instant) -> Flight {
        let mut commits = Vec::new();
        for commit in self.plan_flush() {
            let st = self.tables.get_mut(&commit.table).expect("a planned table");
            // The next batch is sized like this one: reserved now, so that
            // filling it does not copy it as it grows (growing the buffer
            // was 3% of the consume loop's time).
            let next = Vec::with_capacity(st.buffer.len().min(self.limits.max_batch_rows));
            let rows = std::mem::replace(&mut st.buffer, next);
            st.flying.extend(st.pending.drain());
            commits.push((commit, rows));
        }
        self.oldest = None;
        self.moved = false;
        self.last_flush = now;
        Flight { commits, marks: self.read_positions() }
    }

    /// One commit of a flight is in the lake: `written` rows, after
    /// `dropped` the lake held already (re-sent rows, or a replay after a
    /// commit whose offsets did not land). Its offsets become the table's
    /// record and the lake answers for its ids from now on.
    pub fn landed(&mut self, table: Table, txns: Vec<(Partition, i64)>, written: usize, dropped: usize) {
        let st = self.tables.get_mut(&table).expect("a planned table");
        self.stats.commits += 1;
        self.stats.events_written += written as u64;
        self.stats.duplicates_dropped += dropped as u64;
        st.flying.clear();
        st.committed.extend(txns);
    }
}

/// Commits taken out of the buffer ([`State::take_flight`]).
#[derive(Debug)]
pub struct Flight {
    /// In table order, each with the rows it appends (none: offsets only).
    pub commits: Vec<(Commit, Vec<Event>)>,
    /// Next offset per partition, durable once every commit is in.
    pub marks: Watermarks,
}

#[cfg(test)]
mod tests;
