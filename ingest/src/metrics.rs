//! What ingest and the normaliser count for the person running them:
//! receipts by partner and status, rows by outcome, messages by what the
//! normaliser did with them, lake commits and how long they took, and the
//! consumer lag of each partition. `vru run`, `vru ingest` and
//! `vru normalise` serve them as Prometheus text (`--metrics-listen`).
//!
//! One set per process ([`global`]), as Prometheus clients usually keep
//! them: receipts are counted where every receipt is logged and messages
//! where every message is handled, without threading a handle through
//! the landing loop's signature. Counters are atomics: counting costs
//! nanoseconds per message.
//!
//! Labels never hold what a partner wrote: a partner label is the partner
//! folder's name only when it is a well-formed partner name with nothing
//! identifier-like in it, else `unrecognised`.

use crate::normaliser::state::Outcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use vru_model::receipt::Receipt;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiptLabels {
    partner: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// The pipeline's counters.
pub struct PipelineMetrics {
    registry: Registry,
    receipts: Family<ReceiptLabels, Counter>,
    rows: Family<OutcomeLabel, Counter>,
    messages: Family<OutcomeLabel, Counter>,
    found_in_lake: Counter,
    commits: Family<OutcomeLabel, Counter>,
    commit_seconds: Histogram,
    lag: Family<PartitionLabels, Gauge>,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineMetrics {
    pub fn new() -> PipelineMetrics {
        let mut registry = Registry::with_prefix("vru");
        let receipts = Family::<ReceiptLabels, Counter>::default();
        registry.register("ingest_receipts", "Extract receipts written, by partner and status", receipts.clone());
        let rows = Family::<OutcomeLabel, Counter>::default();
        registry.register("ingest_rows", "Extract rows, by what became of them (read, published, rejected, duplicate)", rows.clone());
        let messages = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "normaliser_messages",
            "Kafka messages the normaliser handled, by outcome (buffered, duplicate, already_committed, dead_letter)",
            messages.clone(),
        );
        let found_in_lake = Counter::default();
        registry.register(
            "normaliser_found_in_lake",
            "Buffered messages dropped at their commit because the lake already held their event id (re-sent rows)",
            found_in_lake.clone(),
        );
        let commits = Family::<OutcomeLabel, Counter>::default();
        registry.register("normaliser_commits", "Lake commits, by outcome (ok, failed)", commits.clone());
        let commit_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register("normaliser_commit_duration_seconds", "Time to commit one table's batch to the lake", commit_seconds.clone());
        let lag = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "normaliser_lag_messages",
            "Messages on a partition not yet read by the normaliser (high watermark minus next offset)",
            lag.clone(),
        );
        PipelineMetrics { registry, receipts, rows, messages, found_in_lake, commits, commit_seconds, lag }
    }

    /// Counts a receipt and its rows.
    pub fn receipt(&self, r: &Receipt) {
        self.receipts.get_or_create(&ReceiptLabels { partner: partner_label(&r.partner), status: r.status.as_str() }).inc();
        for (outcome, n) in
            [("read", r.rows_read), ("published", r.rows_published), ("rejected", r.rows_rejected), ("duplicate", r.rows_duplicate)]
        {
            self.rows.get_or_create(&OutcomeLabel { outcome }).inc_by(n);
        }
    }

    /// Counts what the normaliser did with one message.
    pub fn message(&self, o: &Outcome) {
        let outcome = match o {
            Outcome::Buffered(_) => "buffered",
            Outcome::Duplicate => "duplicate",
            Outcome::AlreadyCommitted => "already_committed",
            Outcome::DeadLetter(_) => "dead_letter",
        };
        self.messages.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts buffered messages a commit dropped as already in the lake.
    pub fn found_in_lake(&self, n: u64) {
        self.found_in_lake.inc_by(n);
    }

    /// Counts one table commit; a successful one also its duration.
    pub fn commit(&self, ok: bool, seconds: f64) {
        self.commits.get_or_create(&OutcomeLabel { outcome: if ok { "ok" } else { "failed" } }).inc();
        if ok {
            self.commit_seconds.observe(seconds);
        }
    }

    pub fn lag(&self, topic: &str, partition: i32, messages: i64) {
        self.lag.get_or_create(&PartitionLabels { topic: topic.to_string(), partition }).set(messages.max(0));
    }

    /// The Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// The process's pipeline metrics.
pub fn global() -> &'static PipelineMetrics {
    static METRICS: OnceLock<PipelineMetrics> = OnceLock::new();
    METRICS.get_or_init(PipelineMetrics::new)
}

/// A partner's name as a label: only a well-formed partner name with
/// nothing identifier-like in it (a folder is named by whoever made it).
fn partner_label(partner: &str) -> String {
    use vru_model::identifiers::{Place, scan};
    let s = scan(partner, Place::Text);
    let digits = partner.bytes().filter(u8::is_ascii_digit).count();
    if partner.len() <= 64 && vru_model::Source::of_partner(partner).is_ok() && s.strong.is_none() && s.weak.is_none() && digits < 6 {
        partner.to_string()
    } else {
        "unrecognised".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_labels_never_carry_what_a_folder_name_smuggles() {
        assert_eq!(partner_label("police-northshire"), "police-northshire");
        assert_eq!(partner_label("education-st-annes-2"), "education-st-annes-2");
        for bad in
            ["police-9434765919", "police-943-476-5919", "education-a123456789012", "Police-North", "nobody-here", &"police-x".repeat(20)]
        {
            assert_eq!(partner_label(bad), "unrecognised", "{bad}");
        }
    }

    /// A valid NHS number from nine digits (the check digit computed; a
    /// remainder that gives 10 is not a valid number, so it is nudged).
    fn nhs(mut d: [u8; 9]) -> String {
        loop {
            let sum: u32 = d.iter().zip((2..=10u32).rev()).map(|(d, w)| u32::from(*d) * w).sum();
            let check = match 11 - sum % 11 {
                11 => 0,
                10 => {
                    d[8] = (d[8] + 1) % 10;
                    continue;
                }
                c => c,
            };
            return d.iter().map(|x| char::from(b'0' + x)).chain([char::from(b'0' + check as u8)]).collect();
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Any identifier-like number smuggled into a partner folder's name,
        /// anywhere and however separated, never becomes a label.
        #[test]
        fn an_identifier_in_a_folder_name_never_becomes_a_label(
            digits in proptest::array::uniform9(0u8..10),
            source in proptest::sample::select(vec!["police", "ae", "yjs", "education", "ambulance", "survey"]),
            before in "[a-z]{0,8}",
            after in "[a-z-]{0,8}",
            sep in proptest::sample::select(vec!["", "-", "_"]),
        ) {
            let n = nhs(digits);
            let spaced = format!("{}{sep}{}{sep}{}", &n[..3], &n[3..6], &n[6..]);
            let name = format!("{source}-{before}{spaced}{after}");
            proptest::prop_assert_eq!(partner_label(&name), "unrecognised", "{}", name);
        }

        /// What comes out is the name itself or `unrecognised`, and never a
        /// name with six digits or more.
        #[test]
        fn a_label_is_the_name_or_unrecognised(name in "[a-z0-9_-]{1,40}") {
            let label = partner_label(&name);
            proptest::prop_assert!(label == name || label == "unrecognised");
            proptest::prop_assert!(label == "unrecognised" || name.bytes().filter(u8::is_ascii_digit).count() < 6);
        }
    }

    #[test]
    fn counters_move_and_read_as_prometheus_text() {
        let m = PipelineMetrics::new();
        m.message(&Outcome::Duplicate);
        m.message(&Outcome::DeadLetter("x".into()));
        m.message(&Outcome::DeadLetter("y".into()));
        m.commit(true, 0.02);
        m.commit(false, 0.0);
        m.lag("vru.police", 0, 42);
        let text = m.text();
        for line in [
            "vru_normaliser_messages_total{outcome=\"dead_letter\"} 2",
            "vru_normaliser_messages_total{outcome=\"duplicate\"} 1",
            "vru_normaliser_commits_total{outcome=\"failed\"} 1",
            "vru_normaliser_commit_duration_seconds_count 1",
            "vru_normaliser_lag_messages{topic=\"vru.police\",partition=\"0\"} 42",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
