"""benchmarks/gpu_scale.py's smoke mode runs in CI: a small shape on the CPU, every row printed,
calray's scores and layer errors equal to the baselines' (the GPU figures are in benchmarks/README.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_scale_smoke_prints_every_ratio_and_agrees_with_the_baselines() -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_scale.py", "--smoke-test"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and re.search(r"\d\.\d\dx", line)]
    kinds = ["per decoder layer", "solver alone", "solver alone", "generation", "log-likelihood", "shared context",
             "rolling perplexity"]
    assert len(rows) == len(kinds) and all(k in r for k, r in zip(kinds, rows, strict=True)), done.stdout
    error_ratio = float(re.search(r"\(ratio ([\d.]+)\)", rows[0]).group(1))  # type: ignore[union-attr]
    assert abs(error_ratio - 1) < 0.01  # the same layer error as the reference pipeline
    assert "masks agree on 100.00%" in rows[1] and "masks agree on 100.00%" in rows[2]
    assert "identical outputs 8/8" in rows[3]
    assert "16 of 16 contexts run once" in rows[5]  # the shared-context path is the one timed
    for row in rows[4:]:
        assert float(re.search(r"difference[^\d]*([\d.e+-]+) \|", row).group(1)) < 1e-4, row  # type: ignore[union-attr]
