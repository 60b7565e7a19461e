"""Jobs are validated where they are built; results flatten for tracking; job configs expand."""

from __future__ import annotations

import pytest
import torch

from calray.cluster import Calibration, Job, JobError, JobResult
from calray.cluster.entry import load_prune_eval
from calray.errors import CalrayError


def test_a_job_is_checked_before_it_reaches_a_shard():
    calib = Calibration(mixture={"c4": 0.25, "gsm8k": 0.75}, nsamples=16, seqlen=64)
    job = Job(calibration=calib, prune={"n_m": "2:4", "method": "sparsegpt", "method_options": {"percdamp": 0.1}})
    assert job.prune.target().n_m == (2, 4) and job.prune.pruning_method().percdamp == 0.1
    bad = [
        ({"sparsity": 0.5, "n_m": "2:4"}, "exactly one pruning target"),
        ({}, "exactly one pruning target"),
        ({"sparsity": 1.5}, "sparsity must be in"),
        ({"sparsity": 0.5, "method": "obs"}, "unknown pruning method 'obs'"),
        ({"sparsity": 0.5, "method_options": {"damp": 0.1}}, "does not take options"),
        ({"sparsity": 0.5, "mode": "parallel"}, "sequential"),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            Job(calibration=calib, prune=options)
    with pytest.raises(ValueError, match="exactly one of mixture"):
        Calibration(mixture="c4=1", windows=torch.zeros(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="weights must be finite numbers >= 0"):
        Calibration(mixture={"c4": -1.0})
    explicit = Calibration(windows=torch.zeros(3, 8, dtype=torch.int32))
    assert (explicit.nsamples, explicit.seqlen, explicit.windows.dtype) == (3, 8, torch.long)


def test_results_flatten_for_tune_and_mlflow():
    result = JobResult(
        name="t", status="ok", mode="independent", retention={"general": 80.0, "math": None}, total=80.0,
        scores={"wikitext": {"word_perplexity": 12.5}}, pruning={"sparsity": 0.5, "mean_layer_error": None},
        timings={"prune": 1.0},
    )
    assert result.metrics() == {
        "retention/total": 80.0, "retention/general": 80.0, "score/wikitext/word_perplexity": 12.5,
        "pruning/sparsity": 0.5, "time/prune": 1.0,
    }
    failed = JobResult(name="t", status="failed", mode="sequential", error=JobError("NaN", layer="model.layers.0"))
    assert not failed.ok and failed.metrics() == {} and failed.to_dict()["error"]["layer"] == "model.layers.0"


def test_job_configs_expand_variables_and_resolve_paths(tmp_path, monkeypatch):
    (tmp_path / "sources.yaml").write_text("sources: {}\n")
    config = tmp_path / "run.yaml"
    config.write_text(
        "model: ${MODELS}/llama\nsources_file: sources.yaml\ndata: {root: data}\n"
        "jobs: [{calibration: {mixture: c4=1}, prune: {sparsity: 0.5}}]\n"
    )
    monkeypatch.setenv("MODELS", "/models")
    loaded = load_prune_eval(config)
    assert loaded.model == "/models/llama"
    assert loaded.sources_file == str(tmp_path / "sources.yaml") and loaded.data["root"] == str(tmp_path / "data")
    monkeypatch.delenv("MODELS")
    with pytest.raises(CalrayError, match=r"uses \$MODELS, which is not set"):
        load_prune_eval(config)
