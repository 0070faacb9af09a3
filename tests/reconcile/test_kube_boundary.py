"""Only `kube.py` talks to the API server: no other operator module imports the Kubernetes client."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "vaultext_operator"


def client_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.name}:{node.lineno} {name}" for name in names
                  if name == "kubernetes" or name.startswith("kubernetes.")]
    return found


def test_only_kube_imports_the_kubernetes_client() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20
    offenders = [hit for path in modules if path.name != "kube.py" for hit in client_imports(path)]
    assert offenders == []
    assert client_imports(PACKAGE / "kube.py")  # the one that does
