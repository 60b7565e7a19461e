"""Ctrl-C (SIGINT to the driver's process group, as a terminal sends it) stops a sweep
resumably: exit code 130, the parent run KILLED, nothing left RUNNING, the sweep state open.
A plain ``--resume`` continues it; SIGTERM stops that one the same way with exit code 143;
a last ``--resume`` finishes the sweep with every trial recorded exactly once."""

from __future__ import annotations

import json
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
from calray.sweep.driver import STATE_FILE
from calray.sweep.interrupt import Interrupted, stop_signals
from calray.sweep.tracking import PARENT, SWEEP_ID, TRIAL_KEY

from .conftest import sweep_config

REPO = Path(__file__).resolve().parents[2]
TRIALS = 4


def test_sigterm_outside_tune_raises_interrupted_with_exit_code_143_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, stop_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in the main thread at once
    assert caught.value.exit_code == 143 and isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before


def stop_after_a_trial(args: list[str], sig: signal.Signals, *, group: bool) -> tuple[int, str]:
    """Run ``calray sweep ARGS`` joined to the session's Ray; send ``sig`` once a trial has
    finished in this run; return its exit code and output."""
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "PYTHONPATH": str(REPO),
           "TUNE_GLOBAL_CHECKPOINT_S": "0.5"}
    driver = subprocess.Popen([sys.executable, "-m", "calray", "sweep", *args], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    seen: list[str] = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            line = driver.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen.append(line)
            if f"/{TRIALS}] " in line:  # the progress line of a finished trial
                if group:
                    os.killpg(driver.pid, sig)
                else:
                    driver.send_signal(sig)
                break
        seen.append(driver.communicate(timeout=120)[0])
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    return driver.returncode, "".join(seen)


def check_interrupted(client: MlflowClient, experiment: str) -> tuple[object, Path]:
    (parent,) = client.search_runs([experiment], filter_string="tags.`calray.kind` = 'sweep'")
    assert parent.info.status == "KILLED"
    assert not client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    sweep_dir = Path(parent.data.tags["calray.sweep_dir"])
    assert json.loads((sweep_dir / STATE_FILE).read_text())["status"] == "interrupted"
    return parent, sweep_dir


@pytest.mark.ray
@pytest.mark.slow
def test_ctrl_c_then_sigterm_stop_the_sweep_resumably_and_resume_records_every_trial_once(
    ray_session, model_dir, tmp_path
):
    data = sweep_config(model_dir, tmp_path, name="interrupted")
    data["search"]["num_samples"] = TRIALS
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))

    code, log = stop_after_a_trial(["--config", str(path), "--set", "pool_name=calray-interrupt-1"], signal.SIGINT,
                                   group=True)
    assert code == 130 and "calray: interrupted by SIGINT" in log, log[-4000:]
    assert f"[{TRIALS}/{TRIALS}]" not in log
    config = load_sweep_config(path)
    client = MlflowClient(config.tracking.uri)
    experiment = client.get_experiment_by_name("test").experiment_id
    parent, sweep_dir = check_interrupted(client, experiment)

    code, log = stop_after_a_trial(["--config", str(path), "--resume", "--set", "pool_name=calray-interrupt-2"],
                                   signal.SIGTERM, group=False)
    assert code == 143 and "calray: interrupted by SIGTERM" in log, log[-4000:]
    assert f"resuming sweep {parent.data.tags[SWEEP_ID]}" in log
    assert check_interrupted(client, experiment)[0].info.run_id == parent.info.run_id  # the same sweep, continued

    result = run_sweep(load_sweep_config(path, overrides=["pool_name=calray-interrupt-3"]), resume=True)
    assert result.parent_run_id == parent.info.run_id
    assert len(result.trials) == TRIALS and all(t.status == "TERMINATED" for t in result.trials)
    runs = client.search_runs([experiment], filter_string=f"tags.`{PARENT}` = '{result.parent_run_id}'")
    finished = [r.data.tags[TRIAL_KEY] for r in runs if r.info.status == "FINISHED"]
    assert sorted(finished) == sorted(f"{result.sweep_id}/{t.trial_id}" for t in result.trials)  # each trial once
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    assert json.loads((sweep_dir / STATE_FILE).read_text())["status"] == "finished"
