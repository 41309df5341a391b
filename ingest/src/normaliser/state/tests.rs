//! Every rule of the normaliser core, with time passed in: no broker, no
//! lake, no sleeps.

use super::*;
use vru_model::event::{AsbIncident, Attributes, Envelope, Kind, Offence, Role, Sex, Source};

const POLICE: &str = "vru.police";

fn limits() -> Limits {
    Limits { max_batch_rows: 3, max_batch_age: Duration::from_millis(1000), stale_offsets: 100, max_message_bytes: 4096 }
}

fn state(now: Instant) -> State {
    let topics = HashMap::from([
        (POLICE.to_string(), vec![Table::PoliceOffences, Table::PoliceAsb]),
        ("vru.ae".to_string(), vec![Table::AeAttendances]),
    ]);
    let mut s = State::new(limits(), topics, now);
    for t in [Table::PoliceOffences, Table::PoliceAsb, Table::AeAttendances] {
        s.load_table(t, HashSet::new(), HashMap::new());
    }
    s
}

fn part(p: i32) -> Partition {
    (POLICE.to_string(), p)
}

fn envelope(record: &str, kind: Kind) -> Envelope {
    Envelope {
        event_id: EventId::derive("police", "police-test", record, 1),
        source: Source::Police,
        kind,
        partner: "police-test".into(),
        record_id: record.into(),
        record_version: 1,
        occurred_at: chrono::NaiveDate::from_ymd_opt(2023, 6, 1).unwrap().and_hms_opt(21, 0, 0).unwrap(),
        recorded_at: None,
        ingested_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        extract_id: "e".repeat(64),
        subject: Some("a".repeat(64)),
        role: Some(Role::Victim),
        age: Some(16),
        sex: Some(Sex::Male),
        home_lsoa: None,
        event_lsoa: Some("E01000001".into()),
        content_hash: None,
    }
}

fn offence(record: &str) -> Vec<u8> {
    let attributes = Attributes::Offence(Offence {
        crime_ref: "c".repeat(64),
        offence_code: "34B".into(),
        knife: false,
        firearm: false,
        domestic: false,
        outcome: None,
        outcome_date: None,
    });
    Event { envelope: envelope(record, Kind::Offence), attributes }.seal().to_json()
}

fn asb(record: &str) -> Vec<u8> {
    let attributes = Attributes::AsbIncident(AsbIncident { category: "personal".into() });
    Event { envelope: envelope(record, Kind::AsbIncident), attributes }.seal().to_json()
}

fn id_of(json: &[u8]) -> EventId {
    Event::from_json(json).unwrap().envelope.event_id
}

#[test]
fn starts_after_the_lowest_offset_any_fed_table_committed() {
    let now = Instant::now();
    let mut s = state(now);
    assert_eq!(s.start_offset(&part(0)), 0, "nothing committed: an explicit 0");
    s.load_table(Table::PoliceOffences, HashSet::new(), HashMap::from([(part(0), 41)]));
    assert_eq!(s.start_offset(&part(0)), 0, "police_asb has no record yet, so it needs everything");
    s.load_table(Table::PoliceAsb, HashSet::new(), HashMap::from([(part(0), 9)]));
    assert_eq!(s.start_offset(&part(0)), 10);
    assert_eq!(s.start_offset(&part(1)), 0, "another partition has its own record");
    assert_eq!(s.start_offset(&("vru.unknown".into(), 0)), 0);
}

#[test]
fn each_message_is_buffered_a_duplicate_already_committed_or_dead_lettered() {
    let now = Instant::now();
    let mut s = state(now);
    let erased = offence("erased");
    s.load_table(Table::PoliceOffences, HashSet::from([id_of(&erased)]), HashMap::from([(part(0), 5)]));

    assert_eq!(s.handle(&part(0), 5, Some(&offence("r1")), now), Outcome::AlreadyCommitted);
    assert_eq!(s.handle(&part(0), 6, Some(&offence("r1")), now), Outcome::Buffered(Table::PoliceOffences));
    assert_eq!(s.handle(&part(0), 7, Some(&offence("r1")), now), Outcome::Duplicate, "the same event again");
    assert_eq!(s.handle(&part(0), 8, Some(&erased), now), Outcome::Duplicate, "an erased event is never written back");
    // Offsets already committed for police_offences are not for police_asb.
    assert_eq!(s.handle(&part(0), 3, Some(&asb("a1")), now), Outcome::Buffered(Table::PoliceAsb));

    let dead = |o: Outcome| match o {
        Outcome::DeadLetter(reason) => reason,
        other => panic!("expected a dead letter, got {other:?}"),
    };
    assert!(dead(s.handle(&part(0), 9, None, now)).contains("no payload"));
    assert!(dead(s.handle(&part(0), 10, Some(b"{not json"), now)).contains("not a JSON event"));
    assert!(dead(s.handle(&part(0), 11, Some(&vec![b' '; 5000]), now)).contains("over normaliser.max_message_bytes"));
    let wrong = dead(s.handle(&("vru.ae".into(), 0), 0, Some(&offence("r2")), now));
    assert!(wrong.contains("does not belong on topic vru.ae (expected vru.police)"), "{wrong}");

    assert_eq!(s.buffered(), 2);
    let st = &s.stats;
    assert_eq!((st.messages, st.already_committed, st.duplicates_dropped, st.dead_lettered), (9, 1, 2, 4));
    assert_eq!(s.position(&part(0)), Some(11));
}

#[test]
fn a_flush_is_due_on_age_on_size_or_when_only_positions_moved() {
    let t0 = Instant::now();
    let mut s = state(t0 + Duration::from_millis(100));
    assert!(!s.due(t0 + Duration::from_secs(60), true), "nothing read: nothing to flush");
    s.handle(&part(0), 0, Some(&offence("r1")), t0 + Duration::from_millis(100));
    assert!(!s.due(t0 + Duration::from_millis(1099), false));
    assert!(s.due(t0 + Duration::from_millis(1100), false), "the oldest event is a batch age old");
    assert!(!s.full());
    s.handle(&part(0), 1, Some(&offence("r2")), t0);
    s.handle(&part(0), 2, Some(&offence("r3")), t0);
    assert!(s.full(), "max_batch_rows buffered");

    // Only a duplicate arrived: due when idle, or a batch age after the last flush.
    let t1 = t0 + Duration::from_secs(10);
    let mut s = state(t0);
    s.load_table(Table::PoliceOffences, HashSet::from([id_of(&offence("r1"))]), HashMap::new());
    assert_eq!(s.handle(&part(0), 0, Some(&offence("r1")), t1), Outcome::Duplicate);
    assert!(s.due(t0 + Duration::from_millis(999), true));
    assert!(!s.due(t0 + Duration::from_millis(999), false));
    assert!(s.due(t0 + Duration::from_millis(1000), false));
    assert!(!s.settled());
    let flight = s.take_flight(t1);
    assert!(flight.commits.iter().all(|(_, rows)| rows.is_empty()), "offsets only");
    assert!(s.settled() && !s.due(t1 + Duration::from_millis(999), true));
}

#[test]
fn a_flush_plans_rows_and_offsets_per_table_and_offsets_only_for_stale_tables() {
    let now = Instant::now();
    let mut s = state(now);
    s.load_table(Table::PoliceAsb, HashSet::new(), HashMap::from([(part(0), 4), (part(1), 7)]));
    s.handle(&part(0), 5, Some(&offence("r1")), now);
    s.handle(&part(1), 8, Some(&offence("r2")), now);
    let flight = s.take_flight(now);
    // police_offences has rows; police_asb is current (within 100 offsets);
    // ae_attendances has no partition read, so nothing to record.
    assert_eq!(flight.commits.len(), 1);
    let (plan, rows) = &flight.commits[0];
    assert_eq!(plan.table, Table::PoliceOffences);
    assert_eq!(rows.len(), 2);
    assert_eq!(plan.txns, vec![(part(0), 5), (part(1), 8)]);
    assert_eq!(flight.marks, HashMap::from([(part(0), 6), (part(1), 9)]));
    s.landed(Table::PoliceOffences, vec![(part(0), 5), (part(1), 8)], 2, 0);
    assert!(s.plan_flush().is_empty(), "the landed rows left the buffer and their offsets are recorded");
    assert_eq!((s.stats.commits, s.stats.events_written), (1, 2));

    // 200 offsets of police_offences later, police_asb's record is stale.
    s.handle(&part(0), 205, Some(&offence("r3")), now);
    let flight = s.take_flight(now);
    let tables: Vec<Table> = flight.commits.iter().map(|(c, _)| c.table).collect();
    assert_eq!(tables, vec![Table::PoliceOffences, Table::PoliceAsb]);
    assert!(flight.commits[1].1.is_empty(), "an offsets-only commit");
    assert_eq!(flight.commits[1].0.txns, vec![(part(0), 205), (part(1), 8)]);
}

/// Reading goes on while a flight's commits run: what arrives meanwhile
/// waits for the next flight, a copy of an event in the air is a duplicate,
/// and once the commit landed the lake answers for its ids.
#[test]
fn reading_goes_on_while_a_flight_commits() {
    let now = Instant::now();
    let mut s = state(now);
    s.handle(&part(0), 0, Some(&offence("r1")), now);
    s.handle(&part(0), 1, Some(&asb("a1")), now);
    let flight = s.take_flight(now);
    assert_eq!(flight.commits.len(), 2);
    assert!(s.settled(), "nothing left in the buffer");
    assert_eq!(s.handle(&part(0), 2, Some(&offence("r1")), now), Outcome::Duplicate, "r1 is in the air");
    assert_eq!(s.handle(&part(0), 3, Some(&offence("r2")), now), Outcome::Buffered(Table::PoliceOffences));
    assert!(!s.settled());
    s.landed(Table::PoliceOffences, flight.commits[0].0.txns.clone(), 1, 0);
    s.landed(Table::PoliceAsb, flight.commits[1].0.txns.clone(), 1, 0);
    assert_eq!(s.handle(&part(0), 4, Some(&offence("r1")), now), Outcome::Buffered(Table::PoliceOffences), "the lake lookup decides now");
    let next = s.take_flight(now);
    let (plan, rows) = &next.commits[0];
    assert_eq!((plan.table, rows.len(), plan.txns.clone()), (Table::PoliceOffences, 2, vec![(part(0), 4)]));
    assert_eq!(next.marks, HashMap::from([(part(0), 5)]));
    assert_eq!((s.stats.commits, s.stats.events_written, s.stats.duplicates_dropped), (2, 2, 1));
}

#[test]
fn the_lake_has_all_of_a_partition_when_every_fed_table_recorded_it() {
    let now = Instant::now();
    let mut s = state(now);
    assert!(!s.lake_has_all(&part(0), 10));
    s.load_table(Table::PoliceOffences, HashSet::new(), HashMap::from([(part(0), 9)]));
    assert!(!s.lake_has_all(&part(0), 10), "police_asb has no record");
    s.load_table(Table::PoliceAsb, HashSet::new(), HashMap::from([(part(0), 12)]));
    assert!(s.lake_has_all(&part(0), 10));
    assert!(!s.lake_has_all(&part(0), 11));
}

#[test]
fn a_commit_never_moves_a_table_record_backwards() {
    let now = Instant::now();
    let mut s = state(now);
    // After a restart from 10 (police_asb's record), police_offences is at 50.
    s.load_table(Table::PoliceOffences, HashSet::new(), HashMap::from([(part(0), 50), (part(1), 3)]));
    s.load_table(Table::PoliceAsb, HashSet::new(), HashMap::from([(part(0), 9), (part(1), 3)]));
    assert_eq!(s.start_offset(&part(0)), 10);
    assert_eq!(s.handle(&part(0), 20, Some(&offence("r1")), now), Outcome::AlreadyCommitted);
    assert_eq!(s.handle(&part(1), 4, Some(&offence("r2")), now), Outcome::Buffered(Table::PoliceOffences));
    assert_eq!(s.handle(&part(0), 21, Some(&asb("a1")), now), Outcome::Buffered(Table::PoliceAsb));
    let plan = s.plan_flush();
    assert_eq!(plan[0].table, Table::PoliceOffences);
    assert_eq!(plan[0].txns, vec![(part(1), 4)], "partition 0 stays at 50, not 21");
    assert_eq!(plan[1].txns, vec![(part(0), 21), (part(1), 4)], "both moved past police_asb's record");
}

#[test]
fn rows_the_lake_already_holds_count_as_duplicates_when_their_commit_lands() {
    let now = Instant::now();
    let mut s = state(now);
    for (o, r) in [(0, "r1"), (1, "r2"), (2, "r3")] {
        assert_eq!(s.handle(&part(0), o, Some(&offence(r)), now), Outcome::Buffered(Table::PoliceOffences));
    }
    let flight = s.take_flight(now);
    let (plan, rows) = &flight.commits[0];
    let ids: Vec<EventId> = rows.iter().map(|e| e.envelope.event_id).collect();
    assert_eq!(ids, vec![id_of(&offence("r1")), id_of(&offence("r2")), id_of(&offence("r3"))]);
    // The committer found r1 and r3 in the lake and wrote r2; the commit
    // still records every offset read, the dropped rows' too.
    assert_eq!(plan.txns, vec![(part(0), 2)]);
    s.landed(Table::PoliceOffences, plan.txns.clone(), 1, 2);
    assert_eq!((s.stats.events_written, s.stats.duplicates_dropped), (1, 2));
}
