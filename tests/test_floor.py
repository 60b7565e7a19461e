"""calray works on the oldest transformers it declares (pyproject.toml), not only the newest:
a selection of the prune and evaluate tests runs again in a subprocess with the floor
(scripts/floor.txt, installed into .venv/floor by ``scripts/setup.sh test``) first on the path.
The selection is what depends on transformers' internals: block arguments and masks, cached
decoding, pruning every tiny architecture end to end, token-level scoring and generation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOOR = Path(sys.prefix) / "floor"  # the running venv's .venv/floor
SELECTION = ["tests/prune/test_adapters.py", "tests/prune/test_driver.py", "tests/evaluate/test_token_lm.py"]


def floor_pins() -> dict[str, str]:
    lines = (REPO / "scripts" / "floor.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))


def test_the_floor_is_the_declared_lower_bound() -> None:
    declared = re.search(r'"transformers>=([\d.]+)', (REPO / "pyproject.toml").read_text())
    assert declared and floor_pins()["transformers"].startswith(declared.group(1))


@pytest.mark.slow
def test_prune_and_evaluate_pass_on_the_transformers_floor() -> None:
    pinned = floor_pins()["transformers"]
    if not (FLOOR / f"transformers-{pinned}.dist-info").is_dir():
        pytest.fail(f"transformers {pinned} is not in {FLOOR}: run scripts/setup.sh test (it installs scripts/floor.txt)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FLOOR), str(REPO)])}
    probe = subprocess.run([sys.executable, "-c", "import transformers; print(transformers.__version__)"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == pinned, probe.stderr[-2000:]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SELECTION],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:]
