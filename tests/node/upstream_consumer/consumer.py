"""A consumer written the way the upstream Kerberos extensions are: the upstream names only, no HTTP server, the
recording saved to ``video.mp4`` in the working directory, the event published back with ``operation`` and ``data``."""

import json
import os
import urllib.request

from confluent_kafka import Consumer, Producer

env = os.environ
# Upstream clients pass these two unconditionally: an empty value would be refused by librdkafka.
connection = {
    "bootstrap.servers": env["KAFKA_BROKER"],
    "security.protocol": env["KAFKA_SECURITY"],
    "sasl.mechanisms": env["KAFKA_MECHANISM"],
}
if env.get("KAFKA_USERNAME"):
    connection |= {"sasl.username": env["KAFKA_USERNAME"], "sasl.password": env.get("KAFKA_PASSWORD", "")}

consumer = Consumer({**connection, "group.id": env["KAFKA_GROUP"], "auto.offset.reset": "earliest"})
consumer.subscribe([env["KAFKA_QUEUE_NAME"]])
producer = Producer(connection)
print("upstream-style consumer started", flush=True)

while True:
    message = consumer.poll(1.0)
    if message is None or message.error() is not None:
        continue
    event = json.loads(message.value())
    request = urllib.request.Request(env["STORAGE_URI"] + "/storage/blob", headers={
        "X-Kerberos-Storage-FileName": event["payload"]["key"],
        "X-Kerberos-Storage-Provider": event["source"],
        "X-Kerberos-Storage-AccessKey": env["STORAGE_ACCESS_KEY"],
        "X-Kerberos-Storage-SecretAccessKey": env["STORAGE_SECRET"],
    })
    with urllib.request.urlopen(request, timeout=30) as response, open("video.mp4", "wb") as video:  # noqa: PTH123
        size = video.write(response.read())
    event["operation"] = "classification"
    event["data"] = {"probabilities": [], "labels": [], "boxes": [], "bytes": size}
    producer.produce(env["TARGET_QUEUE_NAME"], json.dumps(event).encode())
    producer.flush(10)
    print(f"classified {event['payload']['key']} ({size} bytes)", flush=True)
