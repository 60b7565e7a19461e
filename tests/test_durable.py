"""Results never land in a Ray job's temporary working copy (calray.durable), without a cluster:
the job is what Ray's job supervisor tells its entrypoint (RAY_JOB_CONFIG_JSON_ENV_VAR)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calray.durable import job_working_dir, result_path
from calray.errors import CalrayError
from calray.sweep.tracking import tracking_uri


@pytest.fixture
def in_job(tmp_path, monkeypatch):
    """This process as the entrypoint of a job submitted with a working dir; returns CALRAY_RESULTS."""
    copy = tmp_path / "copy"
    copy.mkdir()
    monkeypatch.chdir(copy)
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_1.zip"}}))
    monkeypatch.setenv("CALRAY_RESULTS", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "home"


def test_outside_a_job_relative_paths_and_the_store_are_the_working_directorys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert job_working_dir() is None
    assert result_path("runs") == tmp_path.resolve() / "runs"
    assert tracking_uri(None) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_in_a_job_the_default_and_relative_stores_are_refused_saying_what_to_set(in_job):
    for uri in (None, "mlflow.db", "sqlite:///mlflow.db"):
        with pytest.raises(CalrayError, match="temporary copy Ray deletes; set MLFLOW_TRACKING_URI") as caught:
            tracking_uri(uri)
        assert "\n" not in str(caught.value) and "--tracking-uri" in str(caught.value)


def test_in_a_job_a_server_or_an_absolute_store_is_used(in_job, monkeypatch):
    assert tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert tracking_uri(str(in_job / "mlflow.db")) == f"sqlite:///{in_job.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://head:5000")
    assert tracking_uri(None) == "http://head:5000"


def test_in_a_job_relative_result_paths_go_under_calray_results(in_job, tmp_path):
    assert job_working_dir() == (tmp_path / "copy").resolve()
    assert result_path("calray-runs") == in_job.resolve() / "calray-runs"
    assert result_path(tmp_path / "elsewhere") == (tmp_path / "elsewhere").resolve()


def test_a_process_inside_rays_unpacked_copy_is_in_a_job(tmp_path, monkeypatch):
    """Tasks and actors of a job run in the copy too, without the entrypoint's variable."""
    copy = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_abc"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    monkeypatch.delenv("CALRAY_RESULTS", raising=False)
    assert job_working_dir() == copy.resolve()
    assert result_path("exports") == (Path.home() / "calray-results" / "exports").resolve()


def test_calray_prune_in_a_job_writes_the_model_under_calray_results(in_job, capsys):
    from calray.cli import main

    argv = ["prune", "--model", "toy", "--method", "magnitude", "--sparsity", "0.5", "--no-layer-errors",
            "--mix", "toy:gsm=2", "--seqlen", "32", "--no-cache", "--out", "pruned"]
    assert main(argv) == 0
    assert (in_job / "pruned" / "pruning_report.json").is_file() and not (Path.cwd() / "pruned").exists()
    assert capsys.readouterr().out.rstrip().endswith(f"-> {in_job.resolve() / 'pruned'}")
