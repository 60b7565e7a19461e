"""Static checks as tests, so CI runs them: ruff (pyflakes' dead code and undefined names,
pycodestyle with the line length enforced, bugbear, sorted imports) over the whole tree, and
mypy over the library (pyproject.toml configures both). A typo'd name or a type that drifted
from the code should fail CI before it fails a user."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return found


def test_ruff_finds_nothing():
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "calray", "jobs", "tests", "benchmarks", "analysis", "scripts"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_finds_nothing_in_the_library():
    done = subprocess.run([_tool("mypy"), "calray"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
