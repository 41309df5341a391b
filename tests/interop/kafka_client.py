"""An independent Kafka client (confluent-kafka, with its own bundled
librdkafka) taking part in the pipeline:

  kafka_client.py produce BOOTSTRAP TOPIC N   writes N anti-social behaviour
      events in the pipeline's wire format straight into TOPIC; prints the
      event ids as JSON
  kafka_client.py consume BOOTSTRAP TOPIC     reads TOPIC from the start to its
      end; prints how many messages were events and their distinct ids
"""
import hashlib
import json
import sys
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer, TopicPartition

PARTNER = "police-python-client"


def event_id(source, partner, record_id, version):
    h = hashlib.sha256()
    for part in (source, partner, record_id):
        h.update(part.encode())
        h.update(b"\0")
    h.update(version.to_bytes(4, "big"))
    return h.hexdigest()[:32]


def produce(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    ids = []
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for i in range(n):
        rid = f"py-{i}"
        eid = event_id("police", PARTNER, rid, 1)
        ids.append(eid)
        ev = {
            "v": 1, "event_id": eid, "source": "police", "kind": "asb_incident",
            "partner": PARTNER, "record_id": rid, "record_version": 1,
            "occurred_at": f"2023-06-{1 + i % 28:02d}T22:00:00", "recorded_at": None,
            "ingested_at": now, "extract_id": "python-client", "subject": None,
            "role": None, "age": None, "sex": None, "home_lsoa": None,
            "event_lsoa": "E01900001", "attributes": {"category": "nuisance"},
        }
        p.produce(topic, key=f"police/{PARTNER}/{rid}".encode(), value=json.dumps(ev).encode())
    if p.flush(30) != 0:
        sys.exit("not every message was delivered")
    print(json.dumps(ids))


def consume(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "python-reader", "enable.auto.commit": False})
    md = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
    ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    c.assign(parts)
    remaining = {p for p, end in ends.items() if end > 0}
    messages, ids = 0, set()
    while remaining:
        m = c.poll(10)
        if m is None:
            sys.exit(f"timed out with partitions {remaining} unread")
        if m.error():
            continue
        messages += 1
        ids.add(json.loads(m.value())["event_id"])
        if m.offset() + 1 >= ends[m.partition()]:
            remaining.discard(m.partition())
    c.close()
    print(json.dumps({"messages": messages, "distinct_ids": len(ids)}))


if __name__ == "__main__":
    mode, bootstrap, topic = sys.argv[1:4]
    if mode == "produce":
        produce(bootstrap, topic, int(sys.argv[4]))
    else:
        consume(bootstrap, topic)
