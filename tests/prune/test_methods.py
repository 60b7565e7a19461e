from __future__ import annotations

import dataclasses

import pytest
import torch

from calray.errors import CalrayError
from calray.prune import METHODS, HessianFactor, Target, layer_error, magnitude, sparsegpt, wanda
from tests.prune.layers import random_layer


def _statistic(method, H):
    return {"hessian": H, "diag": H.diagonal(), "none": None}[method.statistic]


def test_registry_holds_the_three_methods():
    assert METHODS.names() == ["magnitude", "sparsegpt", "wanda"]
    with pytest.raises(CalrayError, match="did you mean 'sparsegpt'"):
        METHODS.get("sparsgpt")


@pytest.mark.parametrize("target", [Target(sparsity=0.5), Target(n_m=(2, 4))])
def test_methods_give_the_functions_results(target):
    W, H = random_layer(8, 32, seed=1)
    expected = {
        "sparsegpt": sparsegpt(W, H, target.sparsity, n_m=target.n_m),
        "wanda": wanda(W, H.diagonal(), target.sparsity, n_m=target.n_m),
        "magnitude": magnitude(W, target.sparsity, n_m=target.n_m),
    }
    for name, method in METHODS.items():
        prepared = method.prepare(_statistic(method, H), name="fc")
        assert torch.equal(method.prune(W, prepared, target, name="fc"), expected[name])


def test_sparsegpt_prepares_one_factor_for_every_linear_of_an_input():
    method = METHODS.get("sparsegpt")
    _, H = random_layer(8, 32, seed=2)
    prepared = method.prepare(H, name="attn")
    assert isinstance(prepared, HessianFactor)
    assert method.info(prepared) == {"percdamp": 0.01, "damping_escalations": 0.0, "dead_inputs": 0.0}
    louder = dataclasses.replace(method, percdamp=0.1)
    assert louder.info(louder.prepare(H, name="attn"))["percdamp"] == 0.1


def test_wanda_prepares_from_the_diagonal_or_the_full_hessian():
    method = METHODS.get("wanda")
    _, H = random_layer(8, 32, seed=3)
    H[:, 4] = H[4, :] = 0
    assert torch.equal(method.prepare(H, name="fc"), method.prepare(H.diagonal(), name="fc"))
    assert method.info(method.prepare(H, name="fc")) == {"dead_inputs": 1.0}


def test_missing_statistic_is_a_clear_error():
    for name in ("sparsegpt", "wanda"):
        with pytest.raises(CalrayError, match=f"'fc'.*{name} needs"):
            METHODS.get(name).prepare(None, name="fc")


def test_layer_error_is_relative_output_error():
    W, H = random_layer(8, 32, seed=4, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 32, generator=g, dtype=torch.float64)
    H = 2 * X.T @ X / 100
    P = magnitude(W, 0.5)
    expected = ((P - W) @ X.T).square().sum() / (W @ X.T).square().sum()
    assert layer_error(W, P, H) == pytest.approx(float(expected), rel=1e-12)
    assert layer_error(W, W, H) == 0.0
    assert layer_error(torch.zeros(2, 2), torch.zeros(2, 2), torch.eye(2)) == 0.0
    with pytest.raises(CalrayError, match="does not match"):
        layer_error(W, P, H[:4, :4])


def test_a_transposed_view_prunes_like_a_contiguous_weight():
    # GPT-2's Conv1D stores (in, out); the driver passes its transpose, a view.
    W, H = random_layer(8, 32, seed=5)
    conv1d = W.t().contiguous()  # (in, out)
    for name, method in METHODS.items():
        prepared = method.prepare(_statistic(method, H), name="c_attn")
        pruned = method.prune(conv1d.t(), prepared, Target(sparsity=0.5), name="c_attn")
        assert torch.equal(pruned, method.prune(W, prepared, Target(sparsity=0.5), name="c_attn")), name
