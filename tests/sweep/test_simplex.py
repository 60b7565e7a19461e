"""The simplex parameterisation: uniform, exact at vertices, invertible, bounds met."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from calray.errors import CalrayError
from calray.sweep.simplex import U_LOW, SimplexSpace, compositions, mixture_label, tidy, unique

SOURCES = ("a", "b", "c", "d")
u_values = st.floats(min_value=U_LOW, max_value=1.0, allow_nan=False)


def test_uniform_u_gives_uniform_mixtures():
    """Flat Dirichlet: each weight's marginal is Beta(1, K-1), and the pair (w_a, w_b) is
    uniform on the triangle (K = 3): its mean is (1/3, 1/3) and E[w_a w_b] = 1/12."""
    space = SimplexSpace(("a", "b", "c"))
    draws = np.array([[w["a"], w["b"], w["c"]] for w in space.random(4000, seed=1)])
    assert np.allclose(draws.sum(axis=1), 1.0)
    for k in range(3):
        assert stats.kstest(draws[:, k], stats.beta(1, 2).cdf).pvalue > 0.01
    assert abs((draws[:, 0] * draws[:, 1]).mean() - 1 / 12) < 0.005
    # mass near the faces as uniformity demands: P(min w < 0.05) = 1 - (1 - 3 x 0.05)^2 (softmax
    # of uniform logits in [-1, 1] would put none there)
    assert (draws.min(axis=1) < 0.05).mean() == pytest.approx(1 - 0.85**2, abs=0.03)


def test_vertices_and_uniform_are_reached_exactly():
    space = SimplexSpace(SOURCES)
    for i, vertex in enumerate(space.vertices()):
        assert vertex == {s: float(s == SOURCES[i]) for s in SOURCES}
        u = space.point(vertex)
        assert u[SOURCES[i]] == pytest.approx(math.exp(-1)) and all(u[s] == 1.0 for s in SOURCES if s != SOURCES[i])
        assert space.weights(u) == vertex
    assert space.uniform() == {s: 0.25 for s in SOURCES}
    assert space.weights({s: math.exp(-1) for s in SOURCES}) == space.uniform()
    assert space.weights({s: 1.0 for s in SOURCES}) == space.uniform()  # the 0/0 corner: the limit of equal u's


@settings(max_examples=200, deadline=None)
@given(st.lists(u_values, min_size=4, max_size=4))
def test_weights_are_on_the_simplex_and_point_inverts_them(us):
    space = SimplexSpace(SOURCES)
    w = space.weights(dict(zip(SOURCES, us, strict=True)))
    assert all(v >= 0 for v in w.values()) and sum(w.values()) == pytest.approx(1.0)
    assert space.weights(space.point(w)) == pytest.approx(w, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(u_values, min_size=3, max_size=3))  # one u per free source (d is fixed)
@example(us=[1.0, 0.00390625, 0.99999])  # c below the weight floor: dropping it once moved d off 0.3
def test_bounds_and_fixed_weights_are_always_met(us):
    space = SimplexSpace(SOURCES, lower={"a": 0.1, "b": 0.05}, upper={"a": 0.4, "c": 0.2}, fixed={"d": 0.3})
    w = space.weights(dict(zip(space.free, us, strict=True)))
    assert w["d"] == pytest.approx(0.3) and sum(w.values()) == pytest.approx(1.0)
    assert 0.1 - 1e-9 <= w["a"] <= 0.4 + 1e-9 and w["b"] >= 0.05 - 1e-9 and w["c"] <= 0.2 + 1e-9
    assert space.weights(space.point(w)) == pytest.approx(w, abs=1e-9)  # feasible points map back exactly


def test_upper_bounds_give_the_clipped_excess_to_the_others_in_proportion_to_their_room():
    space = SimplexSpace(("a", "b", "c"), upper={"a": 0.5})
    w = space.weights(space.point({"a": 0.5, "b": 0.25, "c": 0.25}))
    assert w == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})
    # "a alone" is infeasible: a is clipped at 0.5 and b, c (equal room) share the rest
    assert space.vertices()[0] == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.25})


def test_lattice_holds_every_composition_within_the_bounds():
    space = SimplexSpace(("a", "b", "c"))
    points = space.lattice(4)
    assert len(points) == math.comb(6, 2) == 15
    assert {"a": 0.5, "b": 0.25, "c": 0.25} in points and {"a": 1.0, "b": 0.0, "c": 0.0} in points
    assert sorted(compositions(2, 2)) == [(0, 2), (1, 1), (2, 0)]
    bounded = SimplexSpace(("a", "b", "c"), lower={"a": 0.2})
    assert all(p["a"] >= 0.2 - 1e-9 for p in bounded.lattice(4))
    with pytest.raises(CalrayError, match="lower the resolution"):
        SimplexSpace(tuple("abcdefghijklmnop")).lattice(20)


@pytest.mark.parametrize("kwargs, message", [
    ({"lower": {"a": 0.6, "b": 0.6}}, "lower bounds sum to 1.2"),
    ({"upper": {"a": 0.2, "b": 0.2, "c": 0.2, "d": 0.2}}, "upper bounds sum to 0.8"),
    ({"fixed": {"a": 0.7, "b": 0.5}}, "sum to 1.2 > 1"),
    ({"fixed": {s: 0.25 for s in SOURCES}}, "nothing to search"),
    ({"lower": {"zz": 0.1}}, "not among the searched sources"),
    ({"lower": {"a": 0.5}, "upper": {"a": 0.4}}, "min 0.5 > max 0.4"),
    ({"fixed": {"a": 0.2}, "lower": {"a": 0.1}}, "fixed and bounded at once"),
    ({"upper": {"a": 1.5}}, "must be a number in \\[0, 1\\]"),
])
def test_impossible_spaces_are_clear_errors(kwargs, message):
    with pytest.raises(CalrayError, match=message):
        SimplexSpace(SOURCES, **kwargs)


def test_checking_mixtures_against_a_space():
    space = SimplexSpace(SOURCES, upper={"a": 0.5})
    assert space.check({"a": 1, "b": 1}) == {"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0}
    for bad, message in [({"a": 0.9, "b": 0.1}, "outside its bounds"), ({"e": 1.0}, "outside the searched"),
                         ({"a": -1.0, "b": 2.0}, "finite numbers >= 0"), ({"a": 0.0}, "no positive weight"),
                         ({"a": float("nan")}, "finite numbers >= 0")]:
        with pytest.raises(CalrayError, match=message):
            space.check(bad)
    with pytest.raises(CalrayError, match="must lie in \\(0, 1\\]"):
        space.weights({s: 0.0 for s in SOURCES})


def test_tidy_labels_and_duplicates():
    assert tidy({"a": 1e-9, "b": 1.0}) == {"a": 0.0, "b": 1.0}
    assert mixture_label({"a": 0.0, "b": 1.0}) == "b"
    assert mixture_label({"a": 0.25, "b": 0.75}) == "b=0.75,a=0.25"
    assert unique([{"a": 0.5, "b": 0.5}, {"a": 0.5 + 1e-15, "b": 0.5}, {"a": 1.0, "b": 0.0}]) == [
        {"a": 0.5, "b": 0.5},
        {"a": 1.0, "b": 0.0},
    ]
