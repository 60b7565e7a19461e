"""A sweep whose driver is killed (SIGKILL) continues with `--resume` and ends with every trial
recorded exactly once, none left RUNNING.

The driver runs as `python -m calray sweep` in a subprocess joined to the session's Ray; when
it dies, Ray ends its pool and trials with it. The resume runs in this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml
from mlflow import MlflowClient

from calray.sweep import load_sweep_config, run_sweep
from calray.sweep.tracking import PARENT, TRIAL_KEY

from .conftest import sweep_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TRIALS = 8


def test_a_killed_driver_resumes_and_records_every_trial_once(ray_session, model_dir, tmp_path):
    data = sweep_config(model_dir, tmp_path, name="resumable")
    data["search"]["num_samples"] = TRIALS
    data["pool_name"] = "calray-resume-first"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "PYTHONPATH": str(REPO),
           "TUNE_GLOBAL_CHECKPOINT_S": "0.5"}
    driver = subprocess.Popen([sys.executable, "-m", "calray", "sweep", "--config", str(path)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            line = driver.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen.append(line)
            if f"[3/{TRIALS}]" in line:
                break
        assert any(f"[3/{TRIALS}]" in line for line in seen), "".join(seen)[-4000:]
        time.sleep(1.0)  # let Tune write its experiment state once more
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
        driver.stdout.close()  # type: ignore[union-attr]

    config = load_sweep_config(path, overrides=["pool_name=calray-resume-second"])
    client = MlflowClient(config.tracking.uri)
    experiment = client.get_experiment_by_name("test").experiment_id
    assert client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")  # the kill left runs open

    resumed_at = int(time.time() * 1000)
    result = run_sweep(config, resume=True)
    assert len(result.trials) == TRIALS and all(t.status == "TERMINATED" for t in result.trials)
    runs = client.search_runs([experiment], filter_string=f"tags.`{PARENT}` = '{result.parent_run_id}'")
    finished = [r for r in runs if r.info.status == "FINISHED"]
    keys = [r.data.tags[TRIAL_KEY] for r in finished]
    assert sorted(keys) == sorted(f"{result.sweep_id}/{t.trial_id}" for t in result.trials)  # each trial once
    for run in runs:  # a run of a trial Tune never saved (it ran after Tune's last state save) is ended, not lost
        if run not in finished:
            assert run.info.status == "KILLED" and "calray.lost" in run.data.tags, run.data.tags
    assert all("retention/total" in r.data.metrics for r in finished)
    assert not client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    assert any(r.info.start_time < resumed_at for r in finished)  # trials the first driver finished were kept
