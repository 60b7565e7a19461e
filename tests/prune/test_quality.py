"""On activations like an LLM's (correlated, with a few outlier channels) the methods that
use more of the calibration statistics reconstruct the layer's output better."""

from __future__ import annotations

import pytest
import torch

from calray.prune import layer_error, magnitude, sparsegpt, wanda


@pytest.fixture(scope="module")
def llm_like_layer():
    g = torch.Generator().manual_seed(0)
    tokens, cols, rank = 4096, 128, 16
    X = torch.randn(tokens, rank, generator=g) @ torch.randn(rank, cols, generator=g) / rank**0.5
    X += 0.3 * torch.randn(tokens, cols, generator=g)
    outliers = torch.randperm(cols, generator=g)[:4]
    X[:, outliers] *= torch.tensor([20.0, 30.0, 40.0, 50.0])
    W = torch.randn(64, cols, generator=g) / cols**0.5
    return W, 2 * X.T @ X / tokens


@pytest.mark.parametrize(("sparsity", "n_m"), [(0.5, None), (0.0, (2, 4))])
def test_error_ordering_sparsegpt_wanda_magnitude(llm_like_layer, sparsity, n_m):
    W, H = llm_like_layer
    errors = {
        "sparsegpt": layer_error(W, sparsegpt(W, H, sparsity, n_m=n_m), H),
        "wanda": layer_error(W, wanda(W, H.diagonal(), sparsity, n_m=n_m), H),
        "magnitude": layer_error(W, magnitude(W, sparsity, n_m=n_m), H),
    }
    assert errors["sparsegpt"] < errors["wanda"] < errors["magnitude"], errors
    assert errors["sparsegpt"] < 0.5 * errors["magnitude"], errors
