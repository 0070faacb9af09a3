from __future__ import annotations

import pytest

from vaultext_worker.runtime.deliveries import decode, encode


def test_the_count_survives_the_commit_metadata() -> None:
    assert decode(encode(1234, 2)) == (1234, 2)


@pytest.mark.parametrize("metadata", [None, "", "other-state", "vaultext-deliveries:1", "vaultext-deliveries:a:2"])
def test_metadata_written_by_others_counts_as_nothing(metadata: str | None) -> None:
    assert decode(metadata) is None
