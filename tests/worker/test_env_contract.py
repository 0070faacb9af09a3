"""Every variable the worker reads is in the one documented contract the operator also follows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r'"((?:VAULTEXT|KAFKA|QUEUE|VAULT|NUMBER)_[A-Z_]+)"')


def test_every_variable_the_worker_reads_is_documented() -> None:
    documented = (ROOT / "docs" / "env-contract.md").read_text()
    read = {name for path in (ROOT / "inference_image" / "vaultext_worker").rglob("*.py")
            for name in VARIABLE.findall(path.read_text())}
    assert {"QUEUE_NAME", "QUEUE_TARGET", "KAFKA_BROKER", "VAULT_API_URL", "NUMBER_OF_PREDICTIONS"} <= read
    assert sorted(name for name in read if f"`{name}`" not in documented) == []
