"""benchmarks/mode_agreement.py's arithmetic on known numbers: the mixtures it draws, its
differences against sequential mode (and the seed-to-seed floor), and its rank agreement."""

from __future__ import annotations

import pytest

from benchmarks.mode_agreement import UNIFORM, difference_rows, mixtures, rank_rows


def test_mixtures_are_each_source_the_uniform_mix_and_seeded_dirichlet_draws():
    mixes = mixtures(["a", "b", "c"], 2, seed=0)
    assert list(mixes) == ["a", "b", "c", UNIFORM, "dirichlet-0", "dirichlet-1"]
    assert mixes["b"] == {"b": 1.0} and mixes[UNIFORM] == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert sum(mixes["dirichlet-0"].values()) == pytest.approx(1.0, abs=1e-3)
    assert mixtures(["a", "b", "c"], 2, seed=0) == mixes and mixtures(["a", "b", "c"], 2, seed=1) != mixes


def test_differences_floor_and_rank_agreement_on_known_numbers():
    labels = ["x", "y", "z"]
    exact = {"x": 10.0, "y": 20.0, "z": 30.0}
    results = {
        0: {**{("sequential", k): {"total": v} for k, v in exact.items()},
            **{("fast", k): {"total": v + d} for (k, v), d in zip(exact.items(), (1.0, -3.0, 0.0), strict=True)}},
        1: {**{("sequential", k): {"total": v + 2.0} for k, v in exact.items()},
            **{("fast", k): {"total": v + 2.0} for k, v in exact.items()}},
    }
    fast, floor = difference_rows(results, ["fast"], labels, ["total"])
    assert fast == ["fast", "total", "0.67", "3.00", "-0.33"]  # |1|, |-3|, 0, then three zeros
    assert floor == ["sequential seed vs seed", "total", "2.00", "2.00", "-"]
    # seed-averaged: fast = 11.5, 19.5, 31 against 11, 21, 31: the same order
    assert rank_rows(results, ["fast"], {"all": labels}, ["total"]) == [["fast", "total", "1.00", "1.00"]]
    results[0][("fast", "x")] = {"total": 60.0}  # x now ranks last: two of the three pairs discordant
    assert rank_rows(results, ["fast"], {"all": labels}, ["total"]) == [["fast", "total", "-0.50", "-0.33"]]
