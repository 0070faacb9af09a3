from __future__ import annotations

import pytest

from vaultext_worker.config import ConfigError, WorkerSettings

BASE = {
    "QUEUE_NAME": "kcloud-analysis-queue",
    "QUEUE_TARGET": "kcloud-ml-queue",
    "KAFKA_BROKER": "127.0.0.1:9092",
    "KAFKA_GROUP": "g",
    "VAULT_API_URL": "http://127.0.0.1:8081/api",
}


def test_defaults() -> None:
    settings = WorkerSettings.from_env(BASE)
    assert settings.sampling.mode == "even" and settings.sampling.frames == 5
    assert settings.kafka.dead_letter_topic == "kcloud-analysis-queue.dlq"
    assert settings.kafka.security == "PLAINTEXT"
    assert "sasl.username" not in settings.kafka.client_config()
    assert settings.model.path == "/opt/vaultext/model.onnx" and settings.model.classes is None
    assert settings.model.conf_threshold == 0.25 and settings.model.iou_threshold == 0.45
    assert settings.model.batch_size == 8 and settings.metrics_port == 8080
    assert settings.vault.max_download_bytes == 536870912
    assert settings.kafka.consumption == "group" and settings.kafka.share_delivery_limit == 5


def test_every_name_of_the_contract_is_read() -> None:
    env = BASE | {
        "KAFKA_USERNAME": "u",
        "KAFKA_PASSWORD": "p",
        "KAFKA_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SECURITY": "SASL_SSL",
        "VAULT_ACCESS_KEY": "ak",
        "VAULT_SECRET_KEY": "sk",
        "NUMBER_OF_PREDICTIONS": "7",
        "VAULTEXT_DEAD_LETTER_TOPIC": "dlq",
        "VAULTEXT_CONFIG": '{"rect": false}',
        "VAULTEXT_METRICS_PORT": "9100",
        "VAULTEXT_SAMPLING": "interval",
        "VAULTEXT_SAMPLING_INTERVAL": "2.5",
        "VAULTEXT_MODEL_PATH": "/m.onnx",
        "VAULTEXT_MODEL_CLASSES": "car, person",
        "VAULTEXT_INPUT_SIZE": "320",
        "VAULTEXT_CONF_THRESHOLD": "0.5",
        "VAULTEXT_IOU_THRESHOLD": "0.6",
        "VAULTEXT_BATCH_SIZE": "4",
        "VAULTEXT_MAX_DOWNLOAD_BYTES": "1000",
        "VAULTEXT_LOG_LEVEL": "debug",
        "VAULTEXT_VAULT_TRUSTED_HOSTS": " Minio.Example:9000, vault-b ",
        "VAULTEXT_VAULT_BACKOFF_MAX": "5",
        "VAULTEXT_PUBLISH_ATTEMPTS": "2",
        "VAULTEXT_PUBLISH_TIMEOUT_MS": "5000",
        "VAULTEXT_MAX_RECORD_BYTES": "65536",
        "VAULTEXT_MAX_DELIVERIES": "4",
        "VAULTEXT_KAFKA_CONSUMPTION": " Share ",
        "VAULTEXT_SHARE_DELIVERY_LIMIT": "3",
        "VAULTEXT_SHARE_HOLD_MS": "1500",
    }
    s = WorkerSettings.from_env(env)
    assert s.kafka.client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_SSL",
        "sasl.username": "u",
        "sasl.password": "p",
        "sasl.mechanism": "SCRAM-SHA-512",
    }
    assert (s.vault.access_key, s.vault.secret_key, s.vault.max_download_bytes) == ("ak", "sk", 1000)
    assert (s.sampling.mode, s.sampling.frames, s.sampling.interval_s) == ("interval", 7, 2.5)
    assert s.kafka.dead_letter_topic == "dlq" and s.metrics_port == 9100 and s.log_level == "DEBUG"
    assert s.model.classes == ("car", "person") and s.model.input_size == 320 and s.model.extra == {"rect": False}
    assert (s.model.conf_threshold, s.model.iou_threshold, s.model.batch_size) == (0.5, 0.6, 4)
    assert s.vault.trusted_hosts == ("minio.example:9000", "vault-b") and s.vault.breaker_backoff_max_s == 5
    assert (s.kafka.publish_attempts, s.kafka.publish_timeout_ms) == (2, 5000)
    assert (s.kafka.max_record_bytes, s.kafka.max_deliveries) == (65536, 4)
    assert (s.kafka.consumption, s.kafka.share_delivery_limit, s.kafka.share_hold_ms) == ("share", 3, 1500)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"QUEUE_NAME": ""}, "QUEUE_NAME must be set"),
        ({"VAULT_API_URL": " "}, "VAULT_API_URL must be set"),
        ({"NUMBER_OF_PREDICTIONS": "five"}, "not an integer"),
        ({"NUMBER_OF_PREDICTIONS": "0"}, "at least 1"),
        ({"VAULTEXT_SAMPLING": "random"}, "expected one of"),
        ({"VAULTEXT_CONF_THRESHOLD": "high"}, "not a number"),
        ({"VAULTEXT_CONFIG": "[1]"}, "JSON object"),
        ({"VAULTEXT_CONFIG": "{"}, "not JSON"),
        ({"VAULTEXT_LOG_LEVEL": "LOUD"}, "VAULTEXT_LOG_LEVEL"),
        ({"VAULT_API_URL": "vault:8081"}, "VAULT_API_URL: .* not an http"),
        ({"VAULTEXT_VAULT_TRUSTED_HOSTS": "http://minio"}, "not a host"),
        ({"VAULTEXT_MAX_DELIVERIES": "0"}, "at least 1"),
        ({"VAULTEXT_KAFKA_CONSUMPTION": "queue"}, "expected group or share"),
        ({"VAULTEXT_SHARE_DELIVERY_LIMIT": "1"}, "at least 2"),
    ],
)
def test_bad_settings_are_named(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerSettings.from_env(BASE | change)


def test_the_worker_refuses_to_start_without_its_settings() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "vaultext_worker"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "configuration error: QUEUE_NAME must be set" in done.stderr
