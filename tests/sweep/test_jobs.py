"""The jobs and their configs: every shipped config is valid, the paper's pools fit cluster.yaml,
and `ray job submit` runs jobs/sweep.py --smoke-test on a real (private) head node, anywhere."""

from __future__ import annotations

import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from calray.config import validate
from calray.sweep import load_sweep_config
from calray.sweep.resources import check_pool_fits, node_types_from_yaml
from calray.sweep.studies import scaling_sweeps, single_source_config, smoke_overrides

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "jobs" / "configs"
SWEEPS = ["paper_scan.yaml", "paper_sweep.yaml", "tiny_sweep.yaml"]
SCALING = ["qwen_scaling.yaml", "tiny_scaling.yaml", "toy_scaling.yaml"]


@pytest.mark.parametrize("name", SWEEPS)
def test_shipped_sweep_configs_are_valid_and_fit_their_cluster(name):
    config = load_sweep_config(CONFIGS / name)
    smoke = load_sweep_config(data=config.model_dump(mode="json"), overrides=smoke_overrides(config, where="/tmp/x"))
    assert smoke.search.num_samples == 3 and smoke.evaluation.limit == 2 and smoke.tracking.uri == "sqlite:////tmp/x/mlflow.db"
    if config.cluster_yaml:
        from calray.cluster import PoolConfig

        pool = validate(PoolConfig, {**config.pool, "model": config.model}, "pool")
        check_pool_fits(pool, node_types_from_yaml(config.cluster_yaml), where="cluster.yaml")
    scan = single_source_config(config, seeds=[0, 1])
    assert scan.search.algorithm == "sources" and scan.calibration.seeds == [0, 1]


def test_the_paper_settings_are_the_papers():
    scan = load_sweep_config(CONFIGS / "paper_scan.yaml")
    assert scan.model == "meta-llama/Llama-3.1-8B" and scan.prune.method == "sparsegpt" and scan.prune.sparsity == 0.6
    assert (scan.calibration.nsamples, scan.calibration.seqlen) == (128, 2048) and scan.evaluation.capability_map == "paper"
    assert len(scan.space.sources) == 15 and scan.prune.mode == "sequential"


@pytest.mark.parametrize("name", SCALING)
def test_scaling_configs_expand_to_one_sweep_per_model_and_target(name):
    sweeps = scaling_sweeps(CONFIGS / name)
    models = {s.model for s in sweeps}
    scans = [s for s in sweeps if s.search.algorithm == "sources"]
    assert len(scans) == len(models) * len({(s.prune.sparsity, s.prune.n_m) for s in sweeps}) >= 3
    assert len({s.name for s in sweeps}) == len(sweeps)  # each sweep its own directory and parent run
    mixes = [s for s in sweeps if s.search.algorithm == "list"]  # `mixtures`: one more sweep per scan
    assert len(mixes) in (0, len(scans))
    for scan, mix in zip(scans, mixes, strict=False):
        assert mix.name == f"{scan.name}-mix" and mix.model == scan.model and mix.calibration.seed == scan.calibration.seeds[0]


def test_the_toy_scaling_study_runs_each_source_and_their_uniform_mix_on_every_size():
    from calray.sweep.plan import plan_sweep

    sweeps = scaling_sweeps(CONFIGS / "toy_scaling.yaml")
    assert [s.model for s in sweeps] == ["toy:small", "toy:small", "toy", "toy", "toy:large", "toy:large"]
    mix = plan_sweep(sweeps[1], check_cluster=False)
    assert mix.points == [{s: 1 / 8 for s in sweeps[1].space.sources}]  # "uniform": every source at 1/8


@pytest.mark.slow
def test_ray_job_submit_runs_the_sweep_smoke_test(ray_head, tmp_path):
    submission = f"calray-sweep-smoke-{uuid.uuid4().hex[:8]}"
    head = ray_head
    done = head.submit(
        [sys.executable, "jobs/sweep.py", "--config", "jobs/configs/tiny_sweep.yaml", "--smoke-test"],
        working_dir=str(REPO), submission_id=submission, env_vars={"CALRAY_CACHE": str(tmp_path / "cache")},
    )
    status = head.ray("job", "status", "--address", head.dashboard, submission, timeout=60)
    log = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "packaging.py" not in line)
    assert done.returncode == 0, log[-6000:]
    assert "SUCCEEDED" in status.stdout + status.stderr or "succeeded" in status.stdout + status.stderr
    assert "3/3 trials finished" in done.stdout and "best: " in done.stdout
    assert "The headlines confirmed in sequential mode" in done.stdout and "best mixture " in done.stdout  # smoke: 1 top, 2 seeds
    uri = re.search(r"records: (sqlite:///\S+mlflow\.db)", done.stdout).group(1)  # type: ignore[union-attr]
    try:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("tiny").experiment_id
        trials = client.search_runs([experiment], filter_string="tags.`calray.kind` = 'trial'")
        assert len(trials) == 3 and {r.info.status for r in trials} == {"FINISHED"}
        assert all("retention/total" in r.data.metrics and "weight/tiny:words" in r.data.params for r in trials)
    finally:
        shutil.rmtree(Path(uri[len("sqlite:///"):]).parent, ignore_errors=True)


@pytest.mark.slow
def test_a_job_with_a_working_dir_records_durably_and_a_store_in_its_copy_is_refused(ray_head, tmp_path):
    """Under `ray job submit --working-dir`, the default store (sqlite in the temporary copy) is
    refused; with MLFLOW_TRACKING_URI in the runtime env (--runtime-env-json, as the README shows)
    the trials are recorded there, and the Tune run directory lands under the CALRAY_RESULTS that
    `ray start` was given (as cluster.yaml does), outside the copy."""
    head = ray_head
    store, results = tmp_path / "head-disk" / "mlflow.db", head.results
    entrypoint = [sys.executable, "jobs/sweep.py", "--config", "jobs/configs/tiny_sweep.yaml", "--set", "search.num_samples=2",
                  "--set", "calibration.nsamples=4", "--set", "evaluation.limit=2", "--set", "pool.device=cpu"]
    env = {"CALRAY_CACHE": str(tmp_path / "cache")}
    refused = head.submit(entrypoint, working_dir=str(REPO), submission_id=f"calray-refused-{uuid.uuid4().hex[:8]}",
                          env_vars=env)
    done = head.submit(entrypoint, working_dir=str(REPO), submission_id=f"calray-durable-{uuid.uuid4().hex[:8]}",
                       env_vars={**env, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    assert refused.returncode != 0
    assert re.search(r"error: the MLflow store '\S+/working_dir_files/\S+/mlflow.db' is inside this Ray job's working "
                     r"directory, a temporary copy Ray deletes; set MLFLOW_TRACKING_URI", refused.stdout + refused.stderr)
    log = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "packaging.py" not in line)
    assert done.returncode == 0, log[-6000:]
    assert f"records: sqlite:///{store}" in done.stdout and "2/2 trials finished" in done.stdout
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("tiny").experiment_id
    trials = client.search_runs([experiment], filter_string="tags.`calray.kind` = 'trial'")
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    assert len(list((results / "calray-runs" / "tiny").glob("*/calray_sweep.json"))) == 1
