from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calray.errors import CalrayError
from calray.prune import PruningError, Target, magnitude, wanda
from tests.prune.layers import random_layer, zeros_per_group

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 50), sparsity=st.floats(0.0, 0.99), seed=st.integers(0, 2**16))
def test_unstructured_sparsity_is_exact(rows, cols, sparsity, seed):
    W, H = random_layer(rows, cols, seed=seed, tokens=32)
    zeros = Target(sparsity=sparsity).zeros_for(rows * cols)
    assert int((magnitude(W, sparsity) == 0).sum()) == zeros
    by_row = (wanda(W, H.diagonal(), sparsity) == 0).sum(dim=1)
    assert int(by_row.sum()) == zeros
    assert int(by_row.max() - by_row.min()) <= 1  # per-row: every row gets floor or ceil


@pytest.mark.parametrize("n_m", [(2, 4), (4, 8), (1, 4)])
def test_n_m_is_exactly_valid(n_m):
    n, m = n_m
    W, H = random_layer(9, 5 * m, seed=m)
    for pruned in (magnitude(W, 0.0, n_m=n_m), wanda(W, H.diagonal(), 0.0, n_m=n_m)):
        assert bool((zeros_per_group(pruned, m) == n).all())


def test_magnitude_removes_the_smallest_weights_of_the_layer():
    W = torch.tensor([[4.0, -0.1, 3.0], [0.2, -5.0, 0.3]])
    assert magnitude(W, 0.5).tolist() == [[4.0, 0.0, 3.0], [0.0, -5.0, 0.0]]


def test_wanda_weighs_by_input_norm_within_each_row():
    W = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    diag = torch.tensor([100.0, 1.0, 1.0, 0.0])  # input 0 is loud, input 3 is dead
    assert wanda(W, diag, 0.5).tolist() == [[1.0, 0.0, 3.0, 0.0], [4.0, 3.0, 0.0, 0.0]]
    assert magnitude(W, 0.5).tolist() == [[0.0, 0.0, 3.0, 4.0], [4.0, 3.0, 0.0, 0.0]]


def test_ties_are_broken_by_position():
    W = torch.ones(2, 4)
    assert (magnitude(W, 0.5) == 0).nonzero().tolist() == [[0, 0], [0, 1], [0, 2], [0, 3]]
    assert (wanda(W, torch.ones(4), 0.5) == 0).nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_keeps_dtype_and_device_and_leaves_inputs_alone(dtype, device):
    W, H = random_layer(8, 32, seed=1)
    W, diag = W.to(device=device, dtype=dtype), H.diagonal().to(device)
    W0, diag0 = W.clone(), diag.clone()
    for pruned in (magnitude(W, 0.5), wanda(W, diag, 0.5), magnitude(W, 0.0, n_m=(2, 4))):
        assert pruned.dtype == dtype and pruned.device == W.device
        assert int((pruned == 0).sum()) == 128
    assert torch.equal(W, W0) and torch.equal(diag, diag0)


def test_bad_inputs_raise_naming_the_layer():
    W, H = random_layer(4, 16, seed=2)
    with pytest.raises(CalrayError, match=r"shape \(16,\)"):
        wanda(W, H, 0.5, name="fc")
    with pytest.raises(PruningError, match=r"'fc'.*negative"):
        wanda(W, -H.diagonal(), 0.5, name="fc")
    with pytest.raises(PruningError, match=r"'fc'.*Hessian diagonal is not finite"):
        wanda(W, H.diagonal() * float("nan"), 0.5, name="fc")
    W[0, 0] = float("inf")
    with pytest.raises(PruningError, match=r"'fc'.*weight is not finite"):
        magnitude(W, 0.5, name="fc")
    with pytest.raises(CalrayError, match="M=3"):
        magnitude(W, 0.5, n_m="1:3", name="fc")
