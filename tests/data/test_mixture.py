from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calray.data import Mixture, Source, allocate, parse_mixture, register_source
from calray.errors import CalrayError


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
    nsamples=st.integers(min_value=1, max_value=5000),
)
def test_largest_remainder_counts_sum_to_nsamples_and_stay_within_one(weights: list[float], nsamples: int):
    named = {f"s{i:02d}": w for i, w in enumerate(weights)}
    counts = allocate(named, nsamples)
    assert sum(counts.values()) == nsamples
    total = sum(weights)
    for name, w in named.items():
        assert counts[name] >= 0
        assert abs(counts[name] - w / total * nsamples) < 1 + 1e-9
    assert counts == allocate(dict(reversed(named.items())), nsamples)  # order of the dict does not matter


def test_ties_go_to_the_larger_weight_then_the_name():
    assert allocate({"b": 1, "a": 1, "c": 1}, 2) == {"b": 1, "a": 1, "c": 0}
    assert allocate({"a": 1, "b": 2}, 1) == {"a": 0, "b": 1}
    assert allocate({"c4": 0.5, "gsm8k": 0.5}, 128) == {"c4": 64, "gsm8k": 64}


def test_weights_and_counts_parse_to_the_same_normalised_mixture():
    weights = parse_mixture("c4=0.5,gsm8k=0.5")
    counts = parse_mixture("gsm8k=64, c4=64")
    assert weights.as_dict() == counts.as_dict() == {"c4": 0.5, "gsm8k": 0.5}
    assert weights.id == counts.id and len(weights.id) == 12
    assert weights.nsamples is None and counts.nsamples == 128
    assert counts.counts() == {"c4": 64, "gsm8k": 64}
    assert weights.counts() == {"c4": 64, "gsm8k": 64}  # default nsamples 128
    assert parse_mixture("c4=3,gsm8k=1").counts(8) == {"c4": 6, "gsm8k": 2}  # counts with nsamples act as weights
    assert parse_mixture({"c4": 1, "gsm8k": 3}).text() == "c4=0.25,gsm8k=0.75"
    assert parse_mixture("c4=0.2,gsm8k=0.8").id != weights.id
    assert parse_mixture("c4=1,gsm8k=0").sources == ["c4"]  # zero weights are dropped


def test_mixture_id_is_stable_across_processes():
    # A literal: if this changes, every cached set and tracked run loses its id.
    assert Mixture.from_weights({"c4": 1, "gsm8k": 1}).id == "7b47422ea966"


def test_patterns_and_bare_names_expand_with_weight_one():
    for name in ("mine:a", "mine:b", "mine:c"):
        register_source(Source(name=name, dimension="general", loader=["x"]))
    assert parse_mixture("mine:*").as_dict() == pytest.approx({"mine:a": 1 / 3, "mine:b": 1 / 3, "mine:c": 1 / 3})
    assert parse_mixture("mine:*=8").nsamples == 24
    assert parse_mixture("gsm8k,mine:a=3").as_dict() == {"gsm8k": 0.25, "mine:a": 0.75}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("c4=-0.5,gsm8k=1", "weight of 'c4' is -0.5; weights must be >= 0"),
        ("c4=nan,gsm8k=1", "weight of 'c4' is nan"),
        ("c4=inf", "weight of 'c4' is inf"),
        ("c4=0,gsm8k=0", "no positive weight"),
        ("c4=0.5,gsm8kk=0.5", "unknown calibration source 'gsm8kk'; did you mean 'gsm8k'"),
        ("c4:0.5", "unknown calibration source 'c4:0.5'; did you mean 'c4'"),
        ("c4=half", "weight 'half' of 'c4'"),
        ("c4=1,c4=2", "appears twice"),
        ("c4=1,", "is not NAME=WEIGHT"),
    ],
)
def test_bad_mixtures_fail_with_one_clear_error_each(spec: str, message: str):
    with pytest.raises(CalrayError, match=message.replace("(", r"\(")):
        parse_mixture(spec)


@pytest.mark.parametrize("nsamples", [0, -3, 2.5, True])
def test_nsamples_must_be_a_positive_integer(nsamples):
    with pytest.raises(CalrayError, match="nsamples"):
        allocate({"c4": 1.0}, nsamples)


def test_weight_check_covers_dict_input():
    with pytest.raises(CalrayError, match="finite"):
        parse_mixture({"c4": math.nan})
