"""The sandbox's own bridge: the only network it creates, and the only one pods can reach.

Pods get an address on the bridge's /24 and no default route, so they reach the host's bridge address (where Kafka,
the Vault stand-in and the apiserver relay listen) and each other, and nothing else. No firewall rule, sysctl or
other interface is touched.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import StartupError

BRIDGE_PREFIX = "vxsb"
# Candidate /24s, tried in order; the first that overlaps no route or address of the host wins.
CANDIDATE_RANGE = ipaddress.IPv4Network("10.213.0.0/16")


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: the node IP, and where pods reach the sandbox's servers."""
        return str(self.subnet.network_address + 1)


def _ip_json(*args: str) -> list[dict[str, object]]:
    completed = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    parsed: list[dict[str, object]] = json.loads(completed.stdout or "[]")
    return parsed


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes or holds an address in (the default route excluded)."""
    networks = []
    for route in _ip_json("-4", "route", "show", "table", "all"):
        destination = str(route.get("dst", "default"))
        if destination not in ("default", "broadcast") and not destination.startswith("fe"):
            try:
                networks.append(ipaddress.IPv4Network(destination, strict=False))
            except ValueError:
                continue
    for link in _ip_json("-4", "addr", "show"):
        for address in link.get("addr_info", []):  # type: ignore[attr-defined]
            networks.append(ipaddress.IPv4Network(f"{address['local']}/{address['prefixlen']}", strict=False))
    return networks


def choose_subnet(taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /24 of the candidate range that overlaps nothing the host already uses."""
    used = list(taken)
    for candidate in CANDIDATE_RANGE.subnets(new_prefix=24):
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise StartupError(f"every /24 of {CANDIDATE_RANGE} is already used on this host; no room for the sandbox bridge")


def sandbox_bridges() -> list[str]:
    """Bridges this sandbox made (by name), including those of a run that was killed."""
    return [str(link["ifname"]) for link in _ip_json("link", "show", "type", "bridge")
            if str(link["ifname"]).startswith(BRIDGE_PREFIX)]


def create_bridge() -> Bridge:
    bridge = Bridge(f"{BRIDGE_PREFIX}{secrets.token_hex(4)}", choose_subnet(host_networks()))
    steps = [
        ["ip", "link", "add", bridge.name, "type", "bridge"],
        ["ip", "addr", "add", f"{bridge.gateway}/{bridge.subnet.prefixlen}", "dev", bridge.name],
        ["ip", "link", "set", bridge.name, "up"],
    ]
    for step in steps:
        completed = subprocess.run(step, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            delete_bridge(bridge.name)
            raise StartupError(f"{' '.join(step)} failed: {completed.stderr.strip()}")
    return bridge


def delete_bridge(name: str) -> None:
    """Remove the bridge (its veths go with their pods' namespaces); absent already is fine."""
    if not name.startswith(BRIDGE_PREFIX):
        raise ValueError(f"refusing to delete {name!r}: not a sandbox bridge")
    for _ in range(50):
        if name not in sandbox_bridges():
            return
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
        time.sleep(0.1)
    raise StartupError(f"bridge {name} could not be deleted")


def cni_config(bridge: Bridge) -> dict[str, object]:
    """The CNI network: the bridge plugin without gateway duties (no forwarding sysctl, no default route, no NAT)."""
    return {
        "cniVersion": "1.0.0",
        "name": "vaultext-sandbox",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge.name,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(bridge.subnet), "rangeStart": str(bridge.subnet.network_address + 10)}]],
                    "routes": [],
                },
            },
            {"type": "loopback"},
        ],
    }
