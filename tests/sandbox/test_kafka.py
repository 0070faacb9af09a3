"""The sandbox's Kafka is a real broker with real consumer groups, committed offsets and share groups."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import (
    AcknowledgeType,
    Consumer,
    ConsumerGroupTopicPartitions,
    Producer,
    ShareConsumer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from vaultext_sandbox import Kafka
from vaultext_sandbox.kafka import LOG4J, _properties, format_storage, new_cluster_id
from vaultext_sandbox.processes import free_port


def test_lag_read_back_through_the_admin_api_is_exact(kafka: Kafka) -> None:
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(timeout=30)

    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for index in range(100):
        producer.produce(topic, value=f"recording-{index}".encode(), partition=index % 4)
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, partition, 0) for partition in range(4)])
    consumed = 0
    while consumed < 60:
        message = consumer.poll(10)
        assert message is not None and message.error() is None
        consumed += 1
        consumer.commit(message=message, asynchronous=False)
    consumer.close()

    committed_future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    committed = {tp.partition: tp.offset for tp in committed_future.result(timeout=30).topic_partitions}
    latest_futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(4)})
    latest = {tp.partition: future.result(timeout=30).offset for tp, future in latest_futures.items()}

    assert sum(latest.values()) == 100
    lag = sum(latest[p] - max(committed.get(p, 0), 0) for p in range(4))
    assert lag == 40


def test_storage_formats_with_a_cluster_id_that_begins_with_a_dash(tmp_path: Path) -> None:
    """About one random id in 64 begins with `-`; the format step must not read it as an option."""
    config = tmp_path / "server.properties"
    config.write_text(_properties(tmp_path / "data", free_port(), free_port()))
    log4j = tmp_path / "log4j.properties"
    log4j.write_text(LOG4J)
    format_storage(config, log4j, "-" + new_cluster_id()[1:])
    assert (tmp_path / "data" / "meta.properties").read_text().count("cluster.id=-") == 1


def test_share_group_redelivers_a_released_record_and_keeps_an_accepted_one(kafka: Kafka) -> None:
    """Share groups (queues) are on: a released record comes back with its delivery count raised."""
    topic, group = f"queue-{uuid.uuid4().hex[:8]}", f"share-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=30)
    earliest = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([earliest])[earliest].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for index in range(3):
        producer.produce(topic, value=f"recording-{index}".encode(), partition=index)
    assert producer.flush(30) == 0

    consumer = ShareConsumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                              "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    deliveries: list[tuple[bytes, int]] = []
    deadline = time.monotonic() + 60
    while len(deliveries) < 4 and time.monotonic() < deadline:
        for message in consumer.poll(1.0):
            assert message.error() is None
            value, count = message.value() or b"", message.delivery_count() or 0
            deliveries.append((value, count))
            release = value == b"recording-0" and count == 1
            consumer.acknowledge(message, AcknowledgeType.RELEASE if release else AcknowledgeType.ACCEPT)
        consumer.commit_sync(30)
    consumer.close()

    assert sorted(deliveries) == [(b"recording-0", 1), (b"recording-0", 2), (b"recording-1", 1), (b"recording-2", 1)]
