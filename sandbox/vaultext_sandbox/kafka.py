"""A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on 127.0.0.1."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from .binaries import ensure, progress
from .errors import StartupError
from .processes import ManagedProcess, free_port, start_with_free_ports

LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StartupError("Kafka needs `java` (17 or newer) on PATH")
    return java


def _properties(data_dir: Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "log.segment.bytes": "16777216",
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class Kafka:
    """The broker; ``stop()`` and ``start()`` take it down and bring it back on the same port with its data."""

    workdir: Path
    bootstrap: str
    process: ManagedProcess

    def start(self) -> None:
        self.process.start()
        self.process.wait_until(self._answers, timeout=60, what="answering metadata requests")
        progress(f"Kafka ready at {self.bootstrap}")

    def stop(self) -> None:
        self.process.stop(grace=10)

    def _answers(self) -> bool:
        host, port = self.bootstrap.rsplit(":", 1)
        with socket.socket() as probe:
            if probe.connect_ex((host, int(port))) != 0:
                return False  # not listening yet: spare the client's connection-refused log lines
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 1000})
        try:
            admin.list_topics(timeout=1)
        except KafkaException:
            return False
        return True


def prepare_kafka(workdir: Path, detached: bool = False) -> Kafka:
    """Format storage and build the broker's command line; ``start()`` launches it."""
    libs = ensure("kafka") / "libs"
    workdir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    config = workdir / "server.properties"
    config.write_text(_properties(workdir / "data", port, controller_port))
    log4j = workdir / "log4j.properties"
    log4j.write_text(LOG4J)
    classpath = f"{libs}/*"
    cluster_id = "-"
    while cluster_id.startswith("-"):  # kafka-storage would read a leading '-' as an option (1 id in 64)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
    java = _java()
    formatted = subprocess.run(
        [java, "-cp", classpath, f"-Dlog4j.configuration=file:{log4j}", "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(config), "--ignore-formatted"],
        capture_output=True, text=True, check=False,
    )
    if formatted.returncode != 0:
        raise StartupError(f"kafka-storage format failed:\n{formatted.stdout}{formatted.stderr}")
    process = ManagedProcess(
        "kafka",
        [java, "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
         "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath, "kafka.Kafka",
         str(config)],
        workdir / "kafka.log",
        detached=detached,
    )
    return Kafka(workdir, f"127.0.0.1:{port}", process)


def start_kafka(workdir: Path, detached: bool = False) -> Kafka:
    def launch() -> Kafka:
        kafka = prepare_kafka(workdir, detached)
        kafka.start()
        return kafka

    return start_with_free_ports(launch)
