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

# Log4j 2 (Kafka 4 dropped reload4j): warnings, plus the line that says the broker started
LOG4J = """status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StartupError("Kafka needs `java` (17 or newer) on PATH")
    return java


def _properties(data_dir: Path, port: int, controller_port: int, bridge: str | None = None) -> str:
    """``bridge`` (HOST:PORT) adds a listener on the sandbox bridge, advertised as such, for clients in pods."""
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", f"CONTROLLER://127.0.0.1:{controller_port}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    if bridge:
        listeners.append(f"BRIDGE://{bridge}")
        advertised.append(f"BRIDGE://{bridge}")
        protocols.append("BRIDGE:PLAINTEXT")
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(protocols),
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
        # share groups (queues): on by default from 4.2 (the `share.version` feature); their state topic
        # must fit a single broker, and short lock/session bounds let a crashed consumer's records come back soon
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "3",
        "group.share.min.record.lock.duration.ms": "1000",
        "group.share.min.session.timeout.ms": "6000",
        "group.share.session.timeout.ms": "10000",
        "group.share.min.heartbeat.interval.ms": "1000",
        "group.share.heartbeat.interval.ms": "2000",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class Kafka:
    """The broker; ``stop()`` and ``start()`` take it down and bring it back on the same port with its data."""

    workdir: Path
    bootstrap: str
    process: ManagedProcess
    bridge_bootstrap: str | None = None  # the listener pods use, when the sandbox has a real node

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


def new_cluster_id() -> str:
    """A random cluster id in Kafka's own form (22 URL-safe base64 characters); it may begin with ``-``."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]


def format_storage(config: Path, log4j: Path, cluster_id: str) -> None:
    # `--cluster-id=ID` in one argument: an id that begins with `-` must not read as an option.
    formatted = subprocess.run(
        [_java(), "-cp", f"{ensure('kafka') / 'libs'}/*", f"-Dlog4j2.configurationFile={log4j}",
         "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={config}",
         "--ignore-formatted"],
        capture_output=True, text=True, check=False,
    )
    if formatted.returncode != 0:
        raise StartupError(f"kafka-storage format failed:\n{formatted.stdout}{formatted.stderr}")


def prepare_kafka(workdir: Path, detached: bool = False, bridge_host: str | None = None) -> Kafka:
    """Format storage and build the broker's command line; ``start()`` launches it."""
    libs = ensure("kafka") / "libs"
    workdir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    bridge = f"{bridge_host}:{free_port()}" if bridge_host else None
    config = workdir / "server.properties"
    config.write_text(_properties(workdir / "data", port, controller_port, bridge))
    log4j = workdir / "log4j2.properties"
    log4j.write_text(LOG4J)
    classpath = f"{libs}/*"
    format_storage(config, log4j, new_cluster_id())
    java = _java()
    process = ManagedProcess(
        "kafka",
        [java, "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
         "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, "kafka.Kafka",
         str(config)],
        workdir / "kafka.log",
        detached=detached,
    )
    return Kafka(workdir, f"127.0.0.1:{port}", process, bridge)


def start_kafka(workdir: Path, detached: bool = False, bridge_host: str | None = None) -> Kafka:
    def launch() -> Kafka:
        kafka = prepare_kafka(workdir, detached, bridge_host)
        kafka.start()
        return kafka

    return start_with_free_ports(launch)
