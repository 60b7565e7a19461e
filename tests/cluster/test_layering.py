"""Layering: calray.cluster builds on prune, data, evaluate and selfcal; none of them imports
it, and it imports nothing above it (sweep, cli)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "calray"


def imported_modules(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_lower_layers_never_import_the_cluster():
    for lower in ("prune", "data", "evaluate", "selfcal"):
        assert not any(m.startswith("calray.cluster") for m in imported_modules(PACKAGE / lower)), lower


def test_the_cluster_imports_nothing_above_it():
    above = ("calray.sweep", "calray.cli")
    assert not any(m.startswith(above) for m in imported_modules(PACKAGE / "cluster"))
