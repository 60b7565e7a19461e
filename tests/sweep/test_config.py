"""Malformed sweep configs and mixtures: each is one clear error before anything runs, and no
MLflow run is left RUNNING."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from calray.data import parse_mixture
from calray.errors import CalrayError
from calray.sweep import load_sweep_config, plan_sweep, run_sweep
from calray.sweep.resources import check_pool_fits, node_types_from_yaml

from .conftest import sweep_config

REPO = Path(__file__).resolve().parents[2]


def edit(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``base`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    out = copy.deepcopy(base)
    node = out
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return out


BAD: list[tuple[str, Any, str]] = [
    ("num_sample", 3, "num_sample: Extra inputs are not permitted"),
    ("search.algoritm", "grid", "search.algoritm: Extra inputs are not permitted"),
    ("search.algorithm", "bayes", "search.algorithm: Input should be 'optuna', 'random', 'grid', 'list' or 'sources'"),
    ("space.sources", ["tiny:wrods"], "unknown calibration source 'tiny:wrods'; did you mean 'tiny:words'"),
    ("space.sources", ["nope:*"], "pattern 'nope:\\*' matches no calibration source"),
    ("space.sources", [], "space.sources: List should have at least 1 item"),
    ("space.bounds", {"tiny:words": {"min": 0.7}, "tiny:numbers": {"min": 0.7}}, "lower bounds sum to 1.4"),
    ("space.bounds", {"tiny:words": {"min": 1.5}}, "space.bounds.tiny:words.min: Input should be less than or equal to 1"),
    ("space.fixed", {"tiny:cats": 0.2}, "fixed weight given for 'tiny:cats', which is not among the searched sources"),
    (
        "search",
        {"algorithm": "list", "mixtures": [{"tiny:words": -1, "tiny:numbers": 2}]},
        "weights must be (finite numbers )?>= 0",
    ),
    ("search", {"algorithm": "list", "mixtures": ["tiny:words=abc"]}, "weight 'abc' of 'tiny:words' in mixture"),
    ("search", {"algorithm": "list", "mixtures": [{"tiny:wordz": 1.0}]}, "did you mean 'tiny:words'"),
    ("search", {"algorithm": "list"}, "algorithm 'list' needs `mixtures`"),
    ("evaluation.capability_map", "tinyy", "unknown capability map 'tinyy'; did you mean 'tiny'"),
    (
        "evaluation.capability_map",
        {"dimensions": {"math": [{"task": "tiny_gem"}]}},
        "unknown task 'tiny_gem'; did you mean 'tiny_gen'",
    ),
    ("evaluation.dimensions", ["maths"], "unknown dimension\\(s\\) \\['maths'\\] in map 'tiny'"),
    ("objective", {"kind": "weighted"}, "a weighted objective needs `weights`"),
    ("objective", {"kind": "weighted", "weights": {"cooking": 1.0}}, "objective weights name dimensions \\['cooking'\\]"),
    ("prune", {"sparsity": None}, "give exactly one pruning target"),
    ("prune", {"sparsity": 1.5}, "sparsity"),
    ("prune", {"sparsity": 0.5, "method": "sparsegtp"}, "unknown pruning method 'sparsegtp'; did you mean 'sparsegpt'"),
    ("fidelity", {"limits": [4, 2]}, "must be positive and strictly increasing"),
    ("calibration.seeds", [0, 1], "calibration.seeds .* is read by algorithm 'sources' only"),
    ("model", "/no/such/model", "/no/such/model"),
    ("tracking.uri", "mlruns", "tracking uri 'mlruns' is not a database or server"),
    ("setup_modules", ["tests.sweep.no_such_world"], "setup module 'tests.sweep.no_such_world' cannot be imported"),
    ("name", "a/b", "name 'a/b' must be letters, digits"),
    ("pool", {"cpus_per_shard": 3.0}, "needs 3 CPUs on one node, but the largest node of the running Ray cluster has 2"),
    ("pool", {"pipelines": 0}, "invalid pool section: pipelines: Input should be greater than or equal to 1"),
]


@pytest.mark.ray
@pytest.mark.parametrize("path, value, message", BAD, ids=[f"{p}={v}"[:60] for p, v, _ in BAD])
def test_a_malformed_config_is_one_clear_error_and_leaves_no_run(ray_session, model_dir, tmp_path, path, value, message):
    base = sweep_config(model_dir, tmp_path)
    if path == "fidelity" or path == "evaluation.capability_map":
        base["search"]["algorithm"] = "optuna"
    with pytest.raises(CalrayError, match=message) as caught:
        run_sweep(load_sweep_config(data=edit(base, path, value)))
    assert "\n" not in str(caught.value)  # one line, as the CLI prints it
    db = tmp_path / "mlflow.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("select count(*) from runs where status = 'RUNNING'").fetchone() == (0,)
    assert not (tmp_path / "runs").exists()  # no sweep directory either


def test_cli_level_mistakes(model_dir, tmp_path, monkeypatch):
    from calray.cli import main

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_config(model_dir, tmp_path)))
    with pytest.raises(CalrayError, match="override 'search.num_samples' is not KEY=VALUE"):
        load_sweep_config(path, overrides=["search.num_samples"])
    monkeypatch.delenv("NOPE", raising=False)
    path.write_text(yaml.safe_dump({**sweep_config(model_dir, tmp_path), "model": "${NOPE}/model"}))
    with pytest.raises(CalrayError, match="uses \\$NOPE, which is not set"):
        load_sweep_config(path)
    assert main(["sweep", "--config", str(tmp_path / "missing.yaml")]) == 2
    config = load_sweep_config(data=sweep_config(model_dir, tmp_path))
    with pytest.raises(CalrayError, match="no interrupted sweep named 'test'"):
        from calray.sweep import find_resumable

        find_resumable(config, True)


def test_pool_requests_checked_against_cluster_yaml():
    from calray.cluster import PoolConfig

    nodes = node_types_from_yaml(REPO / "cluster.yaml")  # a CPU head, up to 8 workers of 4 GPUs
    check_pool_fits(PoolConfig(model="m", device="cuda", pipelines=8, stages=4), nodes, where="cluster.yaml")
    with pytest.raises(CalrayError, match="a pipeline of 8 stages needs 8 GPUs .* largest node type of cluster.yaml has 4"):
        check_pool_fits(PoolConfig(model="m", device="cuda", stages=8), nodes, where="cluster.yaml")
    with pytest.raises(CalrayError, match="asks for 17 pipelines but cluster.yaml can hold at most 16"):
        check_pool_fits(PoolConfig(model="m", device="cuda", pipelines=17, stages=2), nodes, where="cluster.yaml")
    with pytest.raises(CalrayError, match="does not exist"):
        node_types_from_yaml("/no/cluster.yaml")


def test_pool_eval_batch_size_is_a_positive_int_or_auto():
    from pydantic import ValidationError

    from calray.cluster import PoolConfig

    assert PoolConfig(model="m", eval_batch_size="auto").eval_batch_size == "auto"
    assert PoolConfig(model="m", eval_batch_size=8).eval_batch_size == 8
    for bad in (0, "big"):
        with pytest.raises(ValidationError):
            PoolConfig(model="m", eval_batch_size=bad)


def test_an_anchor_uniform_is_the_uniform_mix_of_the_swept_sources(model_dir, tmp_path):
    prune = {"sparsity": 0.5, "mode": "independent", "anchor": "uniform"}
    plan = plan_sweep(load_sweep_config(data=sweep_config(model_dir, tmp_path, prune=prune)), check_cluster=False)
    anchor = plan.trial_template().prune.anchor
    assert anchor is not None and parse_mixture(anchor).as_dict() == pytest.approx(plan.space.uniform())
    assert len(plan.space.uniform()) == 3 and plan.common_params()["anchor"] == "uniform"  # recorded as configured
    with pytest.raises(CalrayError, match="tiny:nope"):
        plan_sweep(load_sweep_config(data=sweep_config(model_dir, tmp_path, prune={**prune, "anchor": "tiny:nope=1"})),
                   check_cluster=False)
