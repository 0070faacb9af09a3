"""The binary cache: a failed step says which and why, and a half-built component is never used."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vaultext_sandbox import binaries
from vaultext_sandbox.__main__ import main as sandbox_cli
from vaultext_sandbox.errors import BuildError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VAULTEXT_SANDBOX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_missing_toolchain_names_the_step_and_the_command() -> None:
    with pytest.raises(BuildError, match=r"go build etcd: `no-such-go` is not installed .*no-such-go build"):
        binaries.run_step("go build etcd", ["no-such-go", "build", "./..."])


def test_a_failing_command_reports_its_exit_code_and_output() -> None:
    with pytest.raises(BuildError) as raised:
        failing = [sys.executable, "-c", "print('artifact not found'); raise SystemExit(4)"]
        binaries.run_step("mvn copy Kafka jars", failing)
    assert "mvn copy Kafka jars failed (exit 4)" in str(raised.value)
    assert "artifact not found" in str(raised.value)


def test_a_half_built_component_is_never_used(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = tmp_path / "go.mod"
    pin.write_text("module pinned\n")
    attempts: list[Path] = []

    def build(target: Path) -> None:
        attempts.append(target)
        (target / "tool").write_text("half")
        if len(attempts) == 1:
            raise BuildError("interrupted mid-build")
        (target / "tool").write_text("complete")

    component = binaries.Component("tool", "v1", (pin,), ("tool",), build)
    monkeypatch.setitem(binaries.COMPONENTS, "tool", component)
    with pytest.raises(BuildError):
        binaries.ensure("tool")
    assert not component.directory().exists()
    assert list(cache.iterdir()) == []  # no staging folder left behind either

    built = binaries.ensure("tool")
    assert (built / "tool").read_text() == "complete"
    assert binaries.ensure("tool") == built and len(attempts) == 2  # cached: not built again

    pin.write_text("module pinned\n// bumped\n")
    assert component.directory() != built  # a changed pin builds anew


def test_keda_is_optional_and_never_claimed_built_from_an_empty_cache(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "keda" not in binaries.COMPONENTS  # what a plain `build` (and CI) builds
    assert binaries.built("keda") is None
    assert sandbox_cli(["build", "--with-keda", "no-such-part"]) == 2  # refused before building anything
    assert "'no-such-part'" in capsys.readouterr().err
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(BuildError, match=r"unknown component 'kedda'; choose from \[.*'keda'"):
        binaries.ensure("kedda")
