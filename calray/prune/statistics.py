"""Calibration statistics of a block's linears, keyed by *input* rather than by linear.

Linears that read the very same tensor (q/k/v after the attention norm, gate/up after the MLP
norm; GPT-NeoX's fused qkv is already one linear) need the same Hessian, so it is
accumulated and factored once per input. Which linears share an input is found by running
the block once on one sample and comparing the tensors their forward hooks receive: no
module names are assumed, so a new architecture groups itself.

Hessians are the running mean H = (2/n) sum_t x_t x_t^T over the n calibration tokens, in
float32 (SparseGPT's convention); Wanda needs only its diagonal, magnitude nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from calray.prune.adapters import call_block
from calray.prune.linears import in_features

Kind = Literal["hessian", "diag", "none"]
BlockArgsFn = Callable[[torch.Tensor, int], dict[str, Any]]


@dataclass
class InputStatistic:
    """Running (2/n) sum x x^T of one input, or only its diagonal (``kind="diag"``).

    >>> stat = InputStatistic.empty("hessian", 2)
    >>> stat.add(torch.tensor([[1.0, 0.0], [1.0, 2.0]]))
    >>> stat.value
    tensor([[2., 2.],
            [2., 4.]])
    """

    kind: Literal["hessian", "diag"]
    value: torch.Tensor  # (in, in) or (in,), float32
    tokens: int = 0

    @classmethod
    def empty(cls, kind: Literal["hessian", "diag"], width: int, *, device: torch.device | str = "cpu") -> InputStatistic:
        shape = (width, width) if kind == "hessian" else (width,)
        return cls(kind, torch.zeros(shape, dtype=torch.float32, device=device))

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        """Fold in a batch of inputs (..., in); every leading position is one token."""
        x = x.reshape(-1, x.shape[-1]).to(self.value.device, torch.float32)  # (tokens, in)
        n, m = self.tokens, x.shape[0]
        if m == 0:
            return
        self.value.mul_(n / (n + m))
        if self.kind == "hessian":
            self.value.addmm_(x.t(), x, alpha=2.0 / (n + m))
        else:
            self.value.add_(x.square().sum(dim=0), alpha=2.0 / (n + m))
        self.tokens = n + m

    def for_method(self, statistic: Kind) -> torch.Tensor | None:
        """What a method declaring ``statistic`` gets: H, diag(H) (or H, whose diagonal it takes), or None."""
        if statistic == "none":
            return None
        if statistic == "hessian" and self.kind != "hessian":
            raise ValueError("a diagonal statistic cannot serve a method that needs the full Hessian")
        return self.value


@dataclass
class BlockStatistics:
    """The linears of one block grouped by shared input, with one statistic per group.

    ``groups`` maps each group's key (its first linear's name) to the names of every linear
    reading that input; ``stats`` holds the statistic per key (empty when ``kind="none"``).
    """

    kind: Kind
    groups: dict[str, tuple[str, ...]]
    stats: dict[str, InputStatistic]

    @classmethod
    def unshared(cls, names: Sequence[str]) -> BlockStatistics:
        """No statistics and no grouping: what a method that needs no calibration gets."""
        return cls("none", {name: (name,) for name in names}, {})


@torch.no_grad()
def input_groups(
    block: nn.Module, linears: Mapping[str, nn.Module], hidden: torch.Tensor, kwargs: dict[str, Any]
) -> list[tuple[str, ...]]:
    """Group ``linears`` by the input tensor they receive in one forward of ``block`` on ``hidden``."""
    seen: list[tuple[str, torch.Tensor]] = []  # keeps every input alive, so no storage is reused
    handles = [
        module.register_forward_pre_hook(lambda _m, args, name=name: seen.append((name, args[0])))
        for name, module in linears.items()
    ]
    try:
        call_block(block, hidden, kwargs)
    finally:
        for handle in handles:
            handle.remove()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, x in seen:
        key = (x.data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x.dtype)
        if name not in groups.setdefault(key, []):
            groups[key].append(name)
    found = [tuple(names) for names in groups.values()]
    missing = set(linears) - {name for names in found for name in names}
    assert not missing, f"linears never called in the block's forward: {sorted(missing)}"
    return found


@torch.no_grad()
def collect_statistics(
    block: nn.Module,
    linears: Mapping[str, nn.Module],
    hidden: torch.Tensor,
    block_args: BlockArgsFn,
    *,
    index: int,
    kind: Literal["hessian", "diag"] = "hessian",
    device: torch.device | str | None = None,
    batch_size: int = 8,
    share_inputs: bool = True,
) -> BlockStatistics:
    """Accumulate ``kind`` statistics of ``linears`` over ``hidden`` (samples, seq, hidden).

    ``block`` must already sit on ``device`` (default: where its parameters are); ``hidden``
    may live elsewhere (CPU) and moves over ``batch_size`` samples at a time. With
    ``share_inputs=False`` every linear gets its own statistic (the benchmark's baseline).
    """
    device = torch.device(device) if device is not None else next(block.parameters()).device
    if share_inputs:
        probe = hidden[:1].to(device)
        groups = input_groups(block, linears, probe, block_args(probe, index))
    else:
        groups = [(name,) for name in linears]
    stats: dict[str, InputStatistic] = {}
    handles = []
    for names in groups:
        key, module = names[0], linears[names[0]]
        stats[key] = InputStatistic.empty(kind, in_features(module), device=device)
        handles.append(module.register_forward_pre_hook(lambda _m, args, s=stats[key]: s.add(args[0])))
    try:
        for start in range(0, hidden.shape[0], batch_size):
            x = hidden[start : start + batch_size].to(device)
            call_block(block, x, block_args(x, index))
    finally:
        for handle in handles:
            handle.remove()
    return BlockStatistics(kind, {names[0]: names for names in groups}, stats)

