from __future__ import annotations

import pytest

from calray.errors import CalrayError
from calray.prune import Target


def test_parse_accepts_sparsity_or_n_m():
    assert Target.parse(sparsity=0.6) == Target(sparsity=0.6)
    assert Target.parse(n_m="2:4") == Target(n_m=(2, 4))
    assert Target.parse(n_m=(4, 8)).sparsity == 0.5
    assert Target.parse(n_m=" 1:4 ").n_m == (1, 4)
    assert Target.parse(n_m=[2, 4]).n_m == (2, 4)  # as a YAML config gives it
    assert str(Target.parse(n_m="2:4")) == "2:4"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sparsity": 1.0}, "[0, 1)"),
        ({"sparsity": -0.1}, "[0, 1)"),
        ({"sparsity": float("nan")}, "number in [0, 1)"),
        ({"sparsity": True}, "number in [0, 1)"),
        ({"n_m": "3:2"}, "1 <= N < M"),
        ({"n_m": "2:0"}, "1 <= N < M"),
        ({"n_m": "0:4"}, "1 <= N < M"),
        ({"n_m": "2-4"}, "'2:4'"),
        ({"n_m": "a:b"}, "'2:4'"),
        ({"n_m": (2.0, 4)}, "pair of integers"),
        ({}, "exactly one"),
        ({"sparsity": 0.5, "n_m": "2:4"}, "exactly one"),
    ],
)
def test_parse_rejects_bad_targets_with_the_value_and_the_rule(kwargs, fragment):
    with pytest.raises(CalrayError) as info:
        Target.parse(**kwargs)
    assert fragment in str(info.value)


def test_constructor_refuses_a_sparsity_that_contradicts_n_m():
    assert Target(sparsity=0.5, n_m=(2, 4)).sparsity == 0.5
    with pytest.raises(CalrayError, match="not both"):
        Target(sparsity=0.6, n_m=(2, 4))


def test_check_width_names_the_layer_and_the_pattern():
    Target.parse(n_m="2:4").check_width(40, name="q")
    Target.parse(sparsity=0.5).check_width(41, name="q")
    with pytest.raises(CalrayError, match=r"'model.layers.0.mlp.up_proj' has 42 inputs.*M=4"):
        Target.parse(n_m="2:4").check_width(42, name="model.layers.0.mlp.up_proj")


@pytest.mark.parametrize(
    ("sparsity", "numel", "zeros"),
    [(0.5, 7, 4), (0.5, 8, 4), (0.6, 10, 6), (0.3, 10, 3), (0.0, 9, 0), (0.999, 5, 5), (0.1, 4, 0)],
)
def test_zeros_for_rounds_half_up(sparsity, numel, zeros):
    assert Target(sparsity=sparsity).zeros_for(numel) == zeros
