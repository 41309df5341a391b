//! A message that cannot become an event goes to the dead-letter topic with
//! its reason; the events around it still reach the lake.

mod common;

use common::events::offence;
use common::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::time::Duration;
use vru_ingest::dlq;
use vru_ingest::kafka::{self, EmbeddedBroker};
use vru_ingest::lake::Lake;
use vru_ingest::normaliser::Normaliser;
use vru_model::event::{Kind, Source};
use vru_model::ids::EventId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_are_dead_lettered_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let opts = kafka();
    let broker = EmbeddedBroker::start().unwrap();
    kafka::ensure_topics(&opts, Some(&broker)).await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let producer: ThreadedProducer<DefaultProducerContext> = opts.client_config(&bootstrap).create().unwrap();
    let topic = opts.topic(Source::Police);
    let mut tampered = offence("r3");
    tampered.envelope.subject = Some("9434765919".into());
    let misrouted = {
        let mut e = offence("r4");
        e.envelope.kind = Kind::AeAttendance;
        e.envelope.source = Source::Ae;
        e.envelope.event_id = EventId::derive("ae", "police-test", "r4", 1);
        e.to_json()
    };
    let payloads: Vec<(Vec<u8>, &str)> = vec![
        (offence("r1").to_json(), "ok"),
        (b"{not json at all".to_vec(), "not a JSON event"),
        (tampered.to_json(), "raw identifiers are refused"),
        (misrouted, "attributes do not match kind"),
        (offence("r2").to_json(), "ok"),
    ];
    for (p, _) in &payloads {
        producer.send(BaseRecord::<[u8], [u8]>::to(&topic).key(b"k".as_slice()).payload(p.as_slice())).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let lake = Lake::new(dir.path().join("lake"));
    let mut n = Normaliser::start(&lake, &opts, &bootstrap, fast_normaliser()).await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(60), n.run(std::future::pending(), true)).await.unwrap().unwrap();
    assert_eq!((stats.events_written, stats.dead_lettered), (2, 3), "{stats:?}");

    let letters = dlq::read_all(&opts, &bootstrap).await.unwrap();
    assert_eq!(letters.len(), 3);
    for (letter, (payload, reason)) in letters.iter().zip(payloads.iter().filter(|(_, r)| *r != "ok")) {
        assert!(letter.reason.contains(reason), "{:?} should say {reason:?}", letter.reason);
        assert_eq!(&letter.payload, payload, "the original bytes are kept for replay");
        assert_eq!(letter.topic, topic);
        assert!(letter.offset >= 1);
    }
    let counts = event_counts(lake.local_root().unwrap()).await;
    assert_eq!(counts.iter().find(|(t, _)| t == "police_offences").unwrap().1, 2);
}
