"""The tree has no unused imports or variables and no undefined names (ruff's pyflakes rules,
configured in pyproject.toml): dead code is a defect here, and a typo'd name should fail CI
before it fails a user."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_no_dead_imports_or_undefined_names():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    done = subprocess.run([ruff, "check", "--no-cache", "calray", "jobs", "tests", "benchmarks", "analysis", "scripts"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
