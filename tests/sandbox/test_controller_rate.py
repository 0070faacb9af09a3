"""The sandbox controller-manager's client rate: Kubernetes' default unless the scale benchmark raises it."""

from __future__ import annotations

import pytest

from vaultext_sandbox.control_plane import _client_rate


def test_default_rate_adds_no_flag_and_a_set_rate_sets_qps_and_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULTEXT_SANDBOX_CONTROLLER_QPS", raising=False)
    assert _client_rate() == []
    monkeypatch.setenv("VAULTEXT_SANDBOX_CONTROLLER_QPS", "200")
    assert _client_rate() == ["--kube-api-qps=200", "--kube-api-burst=400"]


@pytest.mark.parametrize("value", ["0", "-5", "fast", "1e3"])
def test_a_rate_that_is_not_a_positive_integer_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VAULTEXT_SANDBOX_CONTROLLER_QPS", value)
    with pytest.raises(ValueError, match="positive integer"):
        _client_rate()
