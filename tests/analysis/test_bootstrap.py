"""The paired bootstrap on synthetic studies whose truth is known: a real difference is covered
by its interval and called significant; no difference gives an interval holding 0 at about the
nominal rate; perplexities and items shared across runs are handled as retention defines them."""

from __future__ import annotations

import numpy as np
import pytest

from calray.analysis.bootstrap import RunItems, bootstrap_retention
from calray.errors import CalrayError

ITEMS = 300


def study(rng: np.random.Generator, accuracy: dict[str, float], *, seeds: int = 3, dense: float = 0.9,
          seed_effect: float = 0.0) -> dict:
    """Mixtures -> runs (one per seed) on one accuracy task: item difficulty shared by every
    model (that is what pairing exploits), each pruned model correct with its own probability,
    shifted per seed (on the logit scale) by ``seed_effect`` standard deviations."""
    difficulty = rng.normal(0.0, 1.0, ITEMS)

    def answers(p: float, shift: float = 0.0) -> list[float]:
        logit = np.log(p / (1 - p)) + shift  # the mean accuracy is close to p
        return (rng.random(ITEMS) < 1 / (1 + np.exp(-(logit + difficulty)))).astype(float).tolist()

    dense_items = {"qa": {"acc": answers(dense)}}
    row = {"dimension": "skill", "task": "qa", "metric": "acc", "retention": 1.0, "higher_is_better": True}
    return {label: [RunItems([row], {"qa": {"acc": answers(p, rng.normal(0.0, seed_effect))}}, dense_items)
                    for _ in range(seeds)]
            for label, p in accuracy.items()}


def test_a_known_difference_is_covered_and_significant() -> None:
    rng = np.random.default_rng(1)
    groups = study(rng, {"good": 0.8, "worse": 0.7})
    boot = bootstrap_retention(groups, resamples=500, seed=0)
    good, diff = boot.interval("good"), boot.difference("good", "worse")
    mean_dense = float(np.mean(groups["good"][0].dense["qa"]["acc"]))
    truth = 100 * (np.mean([r.pruned["qa"]["acc"] for r in groups["good"]]) - np.mean(
        [r.pruned["qa"]["acc"] for r in groups["worse"]])) / mean_dense
    assert good.low < good.estimate < good.high and boot.keys == ["skill", "total"]
    assert diff.low < truth < diff.high and diff.excludes_zero and diff.low > 0
    assert boot.interval("good", "skill") == good  # one dimension: total = that dimension
    assert boot.seeds == {"good": 3, "worse": 3} and boot.items == {"qa": ITEMS}


def test_no_difference_holds_zero_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(2)
    draws = 150
    covered = 0
    for i in range(draws):
        boot = bootstrap_retention(study(rng, {"a": 0.75, "b": 0.75}), resamples=200, seed=i)
        covered += not boot.difference("a", "b").excludes_zero
    assert 0.9 <= covered / draws <= 0.99, covered / draws  # not 1: item noise is not counted twice


def test_calibration_seeds_that_differ_widen_the_interval() -> None:
    def width(seed_effect: float) -> float:
        boot = bootstrap_retention(study(np.random.default_rng(3), {"m": 0.75}, seed_effect=seed_effect), resamples=400)
        return boot.interval("m").high - boot.interval("m").low

    assert width(0.5) > 1.5 * width(0.0)


def test_perplexity_retention_and_shared_items() -> None:
    nll_dense, nll_pruned = [4.0, 6.0, 10.0], [5.0, 6.0, 13.0]
    parts = {"words": [1.0, 2.0, 2.0], "bytes": [5.0, 5.0, 5.0], "tokens": [2.0, 2.0, 4.0]}
    row = {"dimension": "general", "task": "ppl", "metric": "token_perplexity", "retention": 90.0, "higher_is_better": False}
    run = RunItems([row], {"ppl": {"nll": nll_pruned, **parts}}, {"ppl": {"nll": nll_dense, **parts}})
    boot = bootstrap_retention({"m": [run]}, resamples=50)
    expected = 100 * np.exp(sum(nll_dense) / 8) / np.exp(sum(nll_pruned) / 8)
    assert boot.point["m"]["total"] == pytest.approx(expected)
    at_chance = {**row, "task": "mc", "metric": "acc", "retention": None, "higher_is_better": True}
    with_undefined = RunItems([row, at_chance], run.pruned, run.dense)  # undefined tasks need no items
    assert bootstrap_retention({"m": [with_undefined]}, resamples=50).point == boot.point
    fewer = RunItems([row], {"ppl": {"nll": nll_pruned[:2], **{k: v[:2] for k, v in parts.items()}}}, run.dense)
    with pytest.raises(CalrayError, match="same items"):
        bootstrap_retention({"m": [run], "n": [fewer]})


def test_verdicts_say_whether_the_interval_of_the_difference_excludes_zero() -> None:
    from calray.analysis.bootstrap import Interval
    from calray.analysis.confirmed import Verdict

    assert Verdict("uniform mix", Interval(2.0, 0.5, 3.5)).text() == (
        "the best mixture beats the uniform mix significantly (+2.0 [+0.5, +3.5] points, 95% interval)")
    assert "does not differ significantly from the best single source (-0.5 [-1.3, +0.4]" in Verdict(
        "best single source", Interval(-0.5, -1.3, 0.4)).text()
    assert "is significantly worse than" in Verdict("uniform mix", Interval(-2.0, -3.0, -1.0)).text()
    assert Verdict("uniform mix", Interval(0.0, 0.0, 0.0), same=True).text() == "the best mixture is the uniform mix"
