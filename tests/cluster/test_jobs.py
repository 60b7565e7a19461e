"""`ray job submit` runs jobs/prune_eval.py on a real (private) head node, end to end."""

from __future__ import annotations

import json
import sys
import uuid

import pytest

from calray.cluster.entry import load_prune_eval

pytestmark = pytest.mark.slow

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_ray_job_submit_runs_the_smoke_job(ray_head, tmp_path):
    """The toy model and toy sources ship with calray: the job needs no data kit."""
    config = load_prune_eval(REPO / "jobs/configs/smoke.yaml")  # the config itself is valid here
    assert config.model == "toy"
    output = tmp_path / "results.jsonl"
    submission = f"calray-smoke-{uuid.uuid4().hex[:8]}"
    head = ray_head
    done = head.submit(
        [sys.executable, "jobs/prune_eval.py", "--config", "jobs/configs/smoke.yaml", "--output", str(output)],
        working_dir=str(REPO), submission_id=submission,
        env_vars={"CALRAY_CACHE": str(tmp_path / "cache")},
    )
    status = head.ray("job", "status", "--address", head.dashboard, submission, timeout=60)
    log = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "packaging.py" not in line)
    assert done.returncode == 0, log[-6000:]
    assert "SUCCEEDED" in status.stdout + status.stderr or "succeeded" in status.stdout + status.stderr
    results = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["name"] for r in results] == [j["name"] for j in config.jobs]
    assert all(r["status"] == "ok" for r in results)
    assert [r["mode"] for r in results] == ["sequential", "sequential", "independent"]
    assert all(r["total"] is not None and r["pruning"]["sparsity"] > 0.49 for r in results)
    for r in results:  # the job printed one line per result
        assert f"{r['name']:<16} {r['mode']:<11} ok" in done.stdout
