"""Layering: calray.sweep sits above cluster, evaluate, data and prune; none of them (nor the
toy world) imports it, it never imports the CLI, and importing it loads neither torch nor MLflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cluster.test_layering import imported_modules

PACKAGE = Path(__file__).resolve().parents[2] / "calray"


def test_nothing_below_imports_the_sweep_and_it_never_imports_the_cli():
    for lower in ("prune", "data", "evaluate", "cluster", "toy"):
        if (PACKAGE / lower).is_dir():
            assert not any(m.startswith("calray.sweep") for m in imported_modules(PACKAGE / lower)), lower
    assert not any(m.startswith("calray.cli") for m in imported_modules(PACKAGE / "sweep"))


def test_importing_the_sweep_package_is_light():
    code = "import sys, calray.sweep; print(sorted(m for m in ('torch', 'mlflow', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
