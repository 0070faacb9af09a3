"""Where a detached sandbox (``up``, ``demo --keep``) records itself for ``status`` and ``down``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .binaries import cache_root


def state_file() -> Path:
    configured = os.environ.get("VAULTEXT_SANDBOX_STATE")
    return Path(configured) if configured else cache_root() / "run" / "state.json"


def read_state() -> dict[str, Any] | None:
    path = state_file()
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def write_state(described: dict[str, Any]) -> None:
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text(json.dumps(described, indent=2))
