"""The source layout rules that keep `operator/` from shadowing the standard library."""

from __future__ import annotations

import ast
import operator
import sys
from importlib.metadata import packages_distributions
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


def test_operator_image_installs_every_package_the_operator_imports() -> None:
    package = REPOSITORY / "operator" / "vaultext_operator"
    imported: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "vaultext_operator"}
    distributions = packages_distributions()
    dockerfile = (REPOSITORY / "operator" / "Dockerfile").read_text().lower().replace("_", "-")
    missing = {
        name: distributions.get(name)
        for name in third_party
        if not any(f'"{dist.lower().replace("_", "-")}' in dockerfile for dist in distributions.get(name, [name]))
    }
    assert not missing, f"add to operator/Dockerfile: {missing}"
