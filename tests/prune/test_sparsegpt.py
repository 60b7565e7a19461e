from __future__ import annotations

import logging
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calray.errors import CalrayError
from calray.prune import PruningError, Target, factor_hessian, sparsegpt, sparsegpt_from_factor, sparsegpt_stacked
from tests.prune.layers import random_layer, zeros_per_group
from tests.prune.obs_reference import obs_prune

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize(
    ("rows", "cols", "sparsity", "block_size", "n_m"),
    [
        (8, 24, 0.5, 128, None),
        (16, 40, 0.6, 16, None),  # blocks do not divide the width
        (16, 40, 0.3, 7, None),  # odd block size
        (7, 33, 0.55, 5, None),  # odd width, odd rows
        (8, 24, 0.5, 128, (2, 4)),
        (16, 40, 0.0, 12, (2, 4)),  # block a multiple of M, not dividing the width
        (16, 40, 0.0, 6, (2, 4)),  # block not a multiple of M: rounded up to 8
        (16, 40, 0.0, 3, (1, 4)),
        (8, 48, 0.0, 16, (4, 8)),
    ],
)
@pytest.mark.parametrize("formulation", ["columns", "triangular"])
def test_matches_brute_force_obs_in_float64(rows, cols, sparsity, block_size, n_m, formulation):
    W, H = random_layer(rows, cols, seed=rows * cols, dtype=torch.float64)
    target = Target(n_m=n_m) if n_m else Target(sparsity=sparsity)
    ours = sparsegpt_from_factor(W, factor_hessian(H), target, block_size=block_size, formulation=formulation)
    reference = obs_prune(W, H, target, block_size=block_size, percdamp=0.01)
    assert torch.equal(ours == 0, reference == 0)
    assert (ours - reference).abs().max() < 1e-10


@pytest.mark.parametrize("target", [Target(sparsity=0.6), Target(sparsity=0.37), Target(n_m=(2, 4))])
@pytest.mark.parametrize("formulation", ["columns", "triangular"])
def test_stacked_linears_each_get_what_pruning_them_alone_gives(target, formulation):
    """q/k/v-like linears of different widths swept together: per-linear masks, exact counts."""
    _, H = random_layer(4, 48, seed=20, dtype=torch.float64)
    weights = [random_layer(rows, 48, seed=21 + rows, dtype=torch.float64)[0] for rows in (16, 5, 5)]
    factor = factor_hessian(H)
    stacked = sparsegpt_stacked(weights, factor, target, block_size=16, names=["q", "k", "v"], formulation=formulation)
    for W, ours in zip(weights, stacked, strict=True):
        alone = sparsegpt_from_factor(W, factor, target, block_size=16, formulation=formulation)
        assert torch.equal(ours == 0, alone == 0)
        assert (ours - alone).abs().max() < 1e-12
        if target.n_m is None:
            assert int((ours == 0).sum()) == target.zeros_for(W.numel())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("target", [Target(sparsity=0.6), Target(n_m=(2, 4))])
def test_the_two_formulations_agree_in_float32(target, device):
    W, H = random_layer(64, 256, seed=22)
    W, H = W.to(device), H.to(device)
    factor = factor_hessian(H)
    columns = sparsegpt_from_factor(W, factor, target, formulation="columns")
    triangular = sparsegpt_from_factor(W, factor, target, formulation="triangular")
    assert torch.equal(columns == 0, triangular == 0)
    assert (columns - triangular).abs().max() < 1e-4 * W.abs().max()


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.7, 0.95])
@pytest.mark.parametrize(("rows", "cols", "block_size"), [(8, 24, 128), (13, 37, 8), (3, 130, 128), (1, 5, 2)])
def test_unstructured_sparsity_is_exact(rows, cols, block_size, sparsity):
    W, H = random_layer(rows, cols, seed=cols)
    pruned = sparsegpt(W, H, sparsity, block_size=block_size)
    assert int((pruned == 0).sum()) == Target(sparsity=sparsity).zeros_for(rows * cols)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 12),
    cols=st.integers(1, 50),
    sparsity=st.floats(0.0, 0.99),
    block_size=st.integers(1, 64),
    seed=st.integers(0, 2**16),
)
def test_unstructured_sparsity_is_exact_for_any_shape(rows, cols, sparsity, block_size, seed):
    W, H = random_layer(rows, cols, seed=seed, tokens=64)
    pruned = sparsegpt(W, H, sparsity, block_size=block_size)
    assert int((pruned == 0).sum()) == Target(sparsity=sparsity).zeros_for(rows * cols)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 10),
    groups=st.integers(1, 8),
    n_m=st.sampled_from([(2, 4), (4, 8), (1, 4), (1, 2), (3, 5)]),
    block_size=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_n_m_is_exactly_valid(rows, groups, n_m, block_size, seed):
    n, m = n_m
    W, H = random_layer(rows, groups * m, seed=seed, tokens=64)
    pruned = sparsegpt(W, H, 0.0, n_m=n_m, block_size=block_size)
    assert bool((zeros_per_group(pruned, m) == n).all())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_keeps_dtype_and_device_and_leaves_inputs_alone(dtype, device):
    W, H = random_layer(8, 32, seed=1)
    W, H = W.to(device=device, dtype=dtype), H.to(device)
    W0, H0 = W.clone(), H.clone()
    pruned = sparsegpt(W, H, 0.5, block_size=8)
    assert pruned.dtype == dtype and pruned.device == W.device
    assert torch.equal(W, W0) and torch.equal(H, H0)
    assert pruned.data_ptr() != W.data_ptr()
    assert int((pruned == 0).sum()) == 128


def test_is_deterministic():
    W, H = random_layer(32, 96, seed=3)
    runs = [sparsegpt(W, H, 0.5, block_size=32) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_ties_are_broken_by_position():
    W = torch.ones(2, 8)
    pruned = sparsegpt(W, torch.eye(8), 0.5, block_size=8)
    assert (pruned == 0).nonzero().tolist() == [[0, j] for j in range(8)]


def test_a_shared_factor_gives_the_same_result_as_the_hessian():
    W, H = random_layer(8, 32, seed=4)
    factor = factor_hessian(H)
    for target in (Target(sparsity=0.5), Target(n_m=(2, 4))):
        direct = sparsegpt(W, H, target.sparsity, n_m=target.n_m, block_size=16)
        assert torch.equal(sparsegpt_from_factor(W, factor, target, block_size=16), direct)


def test_dead_inputs_are_zeroed_and_count_toward_the_target():
    W, H = random_layer(8, 32, seed=5)
    dead = torch.tensor([0, 5, 6, 31])
    H[dead, :] = 0
    H[:, dead] = 0
    factor = factor_hessian(H)
    assert factor.dead.nonzero().flatten().tolist() == dead.tolist()
    pruned = sparsegpt(W, H, 0.5)
    assert bool((pruned[:, dead] == 0).all())
    assert int((pruned == 0).sum()) == 128
    reference = obs_prune(W.double(), H.double(), Target(sparsity=0.5), block_size=128, percdamp=0.01)
    assert (pruned.double() - reference).abs().max() < 1e-4


def _indefinite_hessian(cols: int, lowest: float, *, seed: int) -> torch.Tensor:
    """Symmetric, eigenvalues 1 except one equal to ``lowest`` (negative: not PD)."""
    q, _ = torch.linalg.qr(torch.randn(cols, cols, generator=torch.Generator().manual_seed(seed)))
    eig = torch.ones(cols)
    eig[0] = lowest
    return (q * eig) @ q.T


def test_damping_escalates_on_a_non_pd_hessian_and_is_recorded(caplog):
    H = _indefinite_hessian(32, -0.05, seed=6)  # 1% damping is not enough, 10% is
    with caplog.at_level(logging.WARNING, logger="calray.prune"):
        factor = factor_hessian(H, percdamp=0.01, name="blocks.3.mlp")
    assert factor.percdamp == pytest.approx(0.1) and factor.escalations == 1
    assert "blocks.3.mlp" in caplog.text and "percdamp=0.1" in caplog.text
    W, _ = random_layer(8, 32, seed=6)
    pruned = sparsegpt_from_factor(W, factor, Target(sparsity=0.5))
    assert int((pruned == 0).sum()) == 128
    assert not torch.equal(pruned[pruned != 0], W[pruned != 0])  # the OBS update did happen


def test_rank_deficient_hessian_is_factored_with_damping():
    X = torch.randn(3, 32, generator=torch.Generator().manual_seed(7))  # rank 3 < 32
    factor = factor_hessian(2 * X.T @ X / 3)
    assert factor.percdamp >= 0.01 and bool(torch.isfinite(factor.hinv_chol).all())


def test_zero_sparsity_leaves_the_weight_unchanged():
    W, H = random_layer(8, 32, seed=13)
    assert torch.equal(sparsegpt(W, H, 0.0), W)


@pytest.mark.parametrize(
    ("hessian", "fragment"),
    [
        (-100 * torch.eye(16), "not positive definite"),
        (_indefinite_hessian(16, -50.0, seed=8), "not positive definite"),
        (torch.full((16, 16), float("nan")), "256 NaN"),
        (torch.eye(16) + torch.triu(torch.ones(16, 16), diagonal=1), "not symmetric"),
    ],
)
def test_hopeless_hessians_raise_naming_the_layer(hessian, fragment):
    W = torch.randn(4, 16)
    with pytest.raises(PruningError) as info:
        sparsegpt(W, hessian, 0.5, name="model.layers.7.self_attn.q_proj")
    assert info.value.layer == "model.layers.7.self_attn.q_proj"
    assert "model.layers.7.self_attn.q_proj" in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weight_raises(bad):
    W, H = random_layer(4, 16, seed=9)
    W[2, 3] = bad
    with pytest.raises(PruningError, match=r"'fc1'.*weight is not finite"):
        sparsegpt(W, H, 0.5, name="fc1")


def test_overflowing_result_raises_instead_of_returning_inf():
    # Two nearly identical inputs: pruning one moves its weight onto the other,
    # which overflows float16.
    x = torch.randn(256, 1, generator=torch.Generator().manual_seed(10))
    X = torch.cat([x, x * 1.0001, torch.randn(256, 2)], dim=1)
    W = torch.full((2, 4), 60000.0, dtype=torch.float16)
    W[:, 1] = 50000.0
    with pytest.raises(PruningError, match=r"fc2.*pruned weight \(torch.float16\) is not finite"):
        sparsegpt(W, 2 * X.T @ X / 256, 0.25, name="fc2")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sparsity": 1.0}, "[0, 1)"),
        ({"sparsity": 0.5, "n_m": (2, 3)}, "M=3"),
        ({"sparsity": 0.5, "block_size": 0}, "block_size"),
        ({"sparsity": 0.5, "percdamp": 0.0}, "percdamp"),
    ],
)
def test_bad_arguments_are_calray_errors(kwargs, fragment):
    W, H = random_layer(4, 16, seed=11)
    with pytest.raises(CalrayError) as info:
        sparsegpt(W, H, **kwargs)
    assert fragment in str(info.value)


def test_mismatched_shapes_are_calray_errors():
    W, H = random_layer(4, 16, seed=12)
    with pytest.raises(CalrayError, match=r"expected \(16, 16\)"):
        sparsegpt(W, H[:8, :8], 0.5)
    with pytest.raises(CalrayError, match="2-D"):
        sparsegpt(W[0], H, 0.5)
    with pytest.raises(CalrayError, match="for 8 inputs"):
        sparsegpt_from_factor(W, factor_hessian(H[:8, :8]), Target(sparsity=0.5))


def test_pruning_error_survives_pickling():
    err = pickle.loads(pickle.dumps(PruningError("h.0.attn", "Hessian is not finite")))
    assert isinstance(err, CalrayError) and err.layer == "h.0.attn"
    assert str(err) == "cannot prune layer 'h.0.attn': Hessian is not finite"
