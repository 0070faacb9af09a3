"""The Helm chart against the kustomize base and the operator's settings (rendered by the sandbox's Helm and
kubectl builds; no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vaultext_operator.chartschema import OWN_VALUES
from vaultext_operator.settings import OperatorSettings
from vaultext_sandbox.chart import CHART, comparable, helm, render_chart, render_kustomize


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_default_values_render_the_kustomize_base() -> None:
    chart = comparable(render_chart())
    base = comparable([o for o in render_kustomize() if o["kind"] != "Namespace"])  # the chart's is --create-namespace
    assert sorted(chart) == sorted(base), "objects only in one of them"
    differing = [key for key in base if chart[key] != base[key]]
    assert differing == [], "\n".join(
        f"{key}:\nchart: {yaml.safe_dump(chart[key])}\nkustomize: {yaml.safe_dump(base[key])}" for key in differing)


def test_the_chart_lints_clean() -> None:
    linted = helm("lint", "--strict", str(CHART), check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_every_operator_setting_is_a_value_and_reaches_the_operator() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    by_env = {f"VAULTEXT_OPERATOR_{key}".upper(): key for key in OperatorSettings.model_fields}
    chart_settings = {name for name in OperatorSettings.model_fields if name not in OWN_VALUES}
    keys = {"".join(w if i == 0 else w.title() for i, w in enumerate(n.split("_"))): n for n in chart_settings}
    assert set(values["settings"]) == set(keys), "values.yaml `settings:` and OperatorSettings differ"
    chosen = {"logLevel": "DEBUG", "checkGpuCapacity": "false", "allowedPodPrivileges": "hostPath",
              "leaderElection": "false", "leaseSeconds": "7", "retryDelaySeconds": "3", "resyncSeconds": "30",
              "healthIntervalSeconds": "4", "neverCommittedGraceSeconds": "90", "leaseNamespace": "elsewhere"}
    wanted = {key: chosen.get(key, f"x-{key}") for key in keys}
    pairs = [f"settings.{key}={value}" for key, value in wanted.items()]
    container = operator_container(render_chart(*pairs, "healthPort=9001", "metricsPort=9002",
                                                "watchNamespaces={a,b}"))
    env = {item["name"]: item["value"] for item in container["env"]}
    assert set(env) == set(by_env) - {"VAULTEXT_OPERATOR_NAMESPACES"}
    parsed = OperatorSettings(**{by_env[name]: value for name, value in env.items()})  # the operator's validation
    expected = OperatorSettings(**{keys[key]: value for key, value in wanted.items()}, health_host="0.0.0.0",
                                metrics_host="0.0.0.0", health_port=9001, metrics_port=9002)
    assert parsed == expected
    assert container["args"] == ["run", "--namespace=a", "--namespace=b"]
    assert [p["containerPort"] for p in container["ports"]] == [9001, 9002]


def test_service_monitor_only_when_asked() -> None:
    assert not [o for o in render_chart() if o["kind"] == "ServiceMonitor"]
    [monitor] = [o for o in render_chart("metrics.serviceMonitor.enabled=true") if o["kind"] == "ServiceMonitor"]
    [service] = [o for o in render_chart() if o["kind"] == "Service"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


@pytest.mark.parametrize(("value", "where"), [
    ("settings.logLevel=LOUD", "/settings/logLevel"),
    ("settings.kafkaBootstrapServer=kafka:9092", "kafkaBootstrapServer"),  # misspelt: would be an unread variable
    ("settings.leaseSeconds=1", "/settings/leaseSeconds"),
    ("settings.allowedPodPrivileges=hostIPC", "/settings/allowedPodPrivileges"),
    ("replicas=0", "/replicas"),
    ("watchNamespaces={Not_A_Namespace}", "/watchNamespaces/0"),
    ("metricsPort=70000", "/metricsPort"),
])
def test_values_the_operator_would_refuse_stop_at_the_chart(value: str, where: str) -> None:
    rendered = helm("template", "vaultext", str(CHART), "--set", value, check=False)
    assert rendered.returncode != 0 and where in rendered.stderr, rendered.stderr or "rendered without complaint"
