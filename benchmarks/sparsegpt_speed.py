"""SparseGPT on the CPU: the plain per-column OBS sweep vs calray's blocked kernel.

The plain formulation applies each column's error to every later column at once
(W[:, i:] -= err U[i, i:]): one pass over all remaining weights per column. calray's kernel
applies rank-1 updates only inside blocks of 128 columns and reaches the later columns with
one matrix product per block, on a transposed private copy, with linear-time selection. Both
use the same Hessian factor and the same selection rule, so they must give the same mask and
weights up to float32 rounding.

    python benchmarks/sparsegpt_speed.py                 # 2048 x 2048, 4096 tokens
    python benchmarks/sparsegpt_speed.py --size 256      # a quick smoke run
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor

from calray.prune import HessianFactor, Target, factor_hessian, sparsegpt_from_factor


def per_column_reference(weight: Tensor, factor: HessianFactor, target: Target, *, block_size: int) -> Tensor:
    """The textbook sweep: no lazy batching, every update on all remaining columns."""
    W = weight.to(torch.float32, copy=True)  # (out, in)
    W[:, factor.dead] = 0.0
    U = factor.hinv_chol  # (in, in) upper
    d2 = U.diagonal().square()
    rows, cols = W.shape
    mask = torch.zeros_like(W, dtype=torch.bool)
    for i in range(cols):
        if target.n_m is None and i % block_size == 0:
            end = min(i + block_size, cols)
            k = target.zeros_for(rows * end) - target.zeros_for(rows * i)
            scores = W[:, i:end].square() / d2[i:end]
            chosen = torch.zeros(scores.numel(), dtype=torch.bool)
            chosen[torch.argsort(scores.reshape(-1), stable=True)[:k]] = True
            mask[:, i:end] = chosen.view(scores.shape)
        if target.n_m is not None and i % target.n_m[1] == 0:
            n, m = target.n_m
            scores = W[:, i : i + m].square() / d2[i : i + m]
            lowest = torch.argsort(scores, dim=1, stable=True)[:, :n]
            mask[:, i : i + m] = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, lowest, True)
        err = torch.where(mask[:, i], W[:, i], 0.0) / U[i, i]  # (out,)
        W[:, i:] -= err[:, None] * U[i, i:][None, :]
        W[:, i].masked_fill_(mask[:, i], 0.0)
    return W


def timed(fn, repeats: int) -> tuple[float, Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="rows = columns of the layer")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the fast kernels")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.tokens, args.size, generator=g)  # (tokens, in)
    H = 2 * X.T @ X / args.tokens  # (in, in)
    W = torch.randn(args.size, args.size, generator=g)  # (out, in)
    print(f"layer {args.size}x{args.size}, Hessian from {args.tokens} tokens, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    small = factor_hessian(torch.eye(64))
    for fn in (per_column_reference, sparsegpt_from_factor):  # warm-up
        for target in (Target(sparsity=0.5), Target(n_m=(2, 4))):
            fn(torch.randn(64, 64), small, target, block_size=32)
    t_factor, factor = timed(lambda: factor_hessian(H), args.repeats)
    print(f"factor_hessian (shared by both): {t_factor:.3f}s")

    for target in (Target(sparsity=0.5), Target(n_m=(2, 4))):
        bs = args.block_size
        t_ref, ref = timed(lambda t=target, b=bs: per_column_reference(W, factor, t, block_size=b), 1)
        t_ours, ours = timed(lambda t=target, b=bs: sparsegpt_from_factor(W, factor, t, block_size=b), args.repeats)
        same_mask = torch.equal(ref == 0, ours == 0)
        diff = float((ref - ours).abs().max())
        print(f"{target}: per-column {t_ref:.3f}s | calray {t_ours:.3f}s (best of {args.repeats}) "
              f"| speed-up {t_ref / t_ours:.1f}x | same mask {same_mask} | max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
