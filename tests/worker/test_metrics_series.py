"""The worker's /metrics has every outcome and stage series from the start, so dashboards answer 0 before the
first dead letter instead of nothing."""

from __future__ import annotations

from prometheus_client import generate_latest

from vaultext_worker.runtime.health import Metrics


def test_outcomes_and_stages_exist_at_zero_before_any_recording() -> None:
    text = generate_latest(Metrics().registry).decode()
    for line in ('vaultext_recordings_total{outcome="processed"} 0.0',
                 'vaultext_recordings_total{outcome="dead_letter"} 0.0',
                 'vaultext_stage_seconds_count{stage="decode"} 0.0',
                 'vaultext_stage_seconds_count{stage="inference"} 0.0'):
        assert line in text.splitlines(), line
