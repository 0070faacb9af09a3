"""Input events in the exact shape Kerberos Vault publishes."""

from __future__ import annotations

import json
from typing import Any


def vault_event(key: str, source: str = "storj", file_size: int = 7589031, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "date": 1630643550,
        "events": ["monitor", "sequence", "analysis", "throttler", "notification"],
        "provider": "kstorage",
        "request": "persist",
        "source": source,
        "payload": {
            "key": key,
            "fileSize": file_size,
            "is_fragmented": False,
            "bytes_ranges": "",
            "bytes_range_on_time": None,
            "metadata": {
                "uploadtime": "1630643550",
                "event-instancename": "highway4",
                "event-timestamp": "1630643550",
                "productid": "Bfuk14xm40eMSxwEEyrd908yzmDIwKp5",
                "event-numberofchanges": "24",
                "event-microseconds": "0",
                "event-regioncoordinates": "200-200-400-400",
                "capture": "IPCamera",
                "event-token": "0",
                "publickey": "",
            },
        },
    }
    event.update(extra)
    return event


def encoded(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
