"""The MLflow store's first use is serialised: processes opening a fresh sqlite store at once
all succeed (unserialised, MLflow's table creation and migrations collide: `table experiments
already exists`, `duplicate column name: step`), and all find the same experiment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from calray.sweep.tracking import Tracker
import mlflow  # imported before the start line, so that the opens below coincide
Path(sys.argv[3]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.002)
print(Tracker(sys.argv[1], "race").experiment_id)
"""


def test_four_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    go, ready = tmp_path / "go", [tmp_path / f"ready-{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_WHEN_TOLD, uri, str(go), str(r)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in ready]
    deadline = time.time() + 120
    while time.time() < deadline and not all(r.exists() for r in ready) and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-2000:] for _, err in outputs]
    assert len({out.strip() for out, _ in outputs}) == 1  # one experiment, found by all
    assert not list(tmp_path.glob("*.lock"))  # the lock leaves no file behind
