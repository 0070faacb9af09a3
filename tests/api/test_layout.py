"""The source layout rules that keep `operator/` from shadowing the standard library."""

from __future__ import annotations

import operator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_operator_folder_is_not_a_package() -> None:
    assert (REPOSITORY / "operator" / "vaultext_operator" / "__init__.py").is_file()
    assert not (REPOSITORY / "operator" / "__init__.py").exists()


def test_standard_library_operator_is_importable() -> None:
    assert operator.add(2, 3) == 5
    assert not str(getattr(operator, "__file__", "")).startswith(str(REPOSITORY / "operator"))


def test_no_tests_operator_folder() -> None:
    assert not (REPOSITORY / "tests" / "operator").exists()
