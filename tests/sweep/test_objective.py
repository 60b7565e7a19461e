"""Objectives and the Pareto front; the searcher each algorithm builds."""

from __future__ import annotations

import math

import pytest

from calray.errors import CalrayError
from calray.sweep.objective import Objective, dominates, pareto_front


def test_objectives_over_defined_dimensions():
    metrics = {"retention/total": 60.0, "retention/general": 80.0, "retention/math": 40.0}
    assert Objective.create("total", ["general", "math", "code"]).value(metrics) == 60.0
    weighted = Objective.create("weighted", ["general", "math", "code"], {"math": 3.0, "general": 1.0, "code": 5.0})
    assert weighted.value(metrics) == pytest.approx((3 * 40 + 80) / 4)  # code is undefined: left out
    assert math.isnan(weighted.value({"retention/code": math.nan} | {}))
    pareto = Objective.create("pareto", ["general", "math"])
    assert pareto.metrics == ["retention/general", "retention/math"] and pareto.vector(metrics) == (80.0, 40.0)
    with pytest.raises(CalrayError, match="dimensions \\['cooking'\\]"):
        Objective.create("weighted", ["general"], {"cooking": 1.0})


def test_pareto_front_keeps_exactly_the_non_dominated():
    points = {"a": (80, 40), "b": (60, 60), "c": (40, 80), "d": (60, 40), "e": (80, 40), "f": (math.nan, 99)}
    assert pareto_front(points) == ["a", "b", "c", "e"]
    assert dominates((2, 2), (1, 2)) and not dominates((2, 2), (2, 2)) and not dominates((3, 1), (1, 3))


@pytest.mark.parametrize("algorithm, extra", [("optuna", {}), ("random", {}), ("grid", {"resolution": 2}), ("sources", {}),
                                              ("list", {"mixtures": [{"tiny:words": 1, "tiny:numbers": 1}, "tiny:letters"]})])
def test_each_algorithm_builds_its_searcher(model_dir, tmp_path, algorithm, extra):
    from ray.tune.search import ConcurrencyLimiter

    from calray.sweep import load_sweep_config, plan_sweep
    from calray.sweep.search import build_search

    from .conftest import sweep_config

    config = load_sweep_config(data=sweep_config(model_dir, tmp_path, search={"algorithm": algorithm, "num_samples": 7, **extra}))
    plan = plan_sweep(config, check_cluster=False)
    search = build_search(plan, max_concurrent=2)
    if algorithm == "optuna":
        assert isinstance(search.search_alg, ConcurrencyLimiter) and search.num_samples == 7
        assert len(plan.points) == 4  # three vertices and the uniform mix, enqueued first
    elif algorithm == "random":
        assert search.num_samples == 7 and len(search.search_alg._points_to_evaluate) == 4
    else:
        grid = search.param_space["point"]["grid_search"]
        assert search.num_samples == 1 and grid == plan.points
        assert len(grid) == {"grid": 6, "sources": 3, "list": 2}[algorithm]
        if algorithm == "list":
            assert grid[0] == {"tiny:letters": 0.0, "tiny:numbers": 0.5, "tiny:words": 0.5}
    pareto = load_sweep_config(data=sweep_config(model_dir, tmp_path, objective={"kind": "pareto"}))
    searcher = build_search(plan_sweep(pareto, check_cluster=False), max_concurrent=1).search_alg.searcher
    assert searcher.metric == ["retention/general", "retention/commonsense", "retention/math"]
