"""Calibration statistics of a block's linears, keyed by *input* rather than by linear.

Linears that read the very same tensor (q/k/v after the attention norm, gate/up after the MLP
norm; GPT-NeoX's fused qkv is already one linear) need the same Hessian, so it is
accumulated and factored once per input. Which linears share an input is found from the
tensors their forward hooks receive during the first calibration batch: no module names are
assumed, so a new architecture groups itself, and no extra forward is spent on it.

Hessians are the running mean H = (2/n) sum_t x_t x_t^T over the n calibration tokens, in
float32 (SparseGPT's convention); Wanda needs only its diagonal, magnitude nothing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from calray.prune.adapters import call_block
from calray.prune.block_args import BlockArgsFn
from calray.prune.methods import Statistic


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
    def empty(
        cls, kind: Literal["hessian", "diag"], width: int, *, device: torch.device | str = "cpu"
    ) -> InputStatistic:
        shape = (width, width) if kind == "hessian" else (width,)
        return cls(kind, torch.zeros(shape, dtype=torch.float32, device=device))

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        """Fold in a batch of inputs (..., in); every leading position is one token.

        Half-precision inputs on a GPU are multiplied as they are, accumulating and returning
        float32 (``_gram``): each product of two bfloat16/float16 numbers is exact in float32,
        so this is the float32 Hessian up to summation order, at tensor-core speed instead of
        float32 GEMM speed (about 12x on an H100-class GPU).
        """
        x = x.reshape(-1, x.shape[-1]).to(self.value.device)  # (tokens, in)
        n, m = self.tokens, x.shape[0]
        if m == 0:
            return
        self.value.mul_(n / (n + m))
        if self.kind == "hessian":
            _add_gram(self.value, x, alpha=2.0 / (n + m))
        else:
            self.value.add_(x.float().square().sum(dim=0), alpha=2.0 / (n + m))
        self.tokens = n + m

    def for_method(self, statistic: Statistic) -> torch.Tensor | None:
        """What a method declaring ``statistic`` gets: H, diag(H) (or H, whose diagonal it takes), or None."""
        if statistic == "none":
            return None
        if statistic == "hessian" and self.kind != "hessian":
            raise ValueError("a diagonal statistic cannot serve a method that needs the full Hessian")
        return self.value


def _add_gram(value: torch.Tensor, x: torch.Tensor, *, alpha: float) -> None:
    """value += alpha x^T x for x (tokens, in), in float32. On CUDA a half-precision x is
    multiplied without upcasting (mm's ``out_dtype``: float32 accumulation and result)."""
    if x.device.type == "cuda" and x.dtype in (torch.bfloat16, torch.float16):
        try:
            value.add_(torch.mm(x.t(), x, out_dtype=torch.float32), alpha=alpha)
            return
        except (RuntimeError, TypeError):  # a torch without mm's out_dtype: the float32 product below
            pass
    x = x.float()
    value.addmm_(x.t(), x, alpha=alpha)


@dataclass
class BlockStatistics:
    """The linears of one block grouped by shared input, with one statistic per group.

    ``groups`` maps each group's key (its first linear's name) to the names of every linear
    reading that input; ``stats`` holds the statistic per key (empty when ``kind="none"``).
    """

    kind: Statistic
    groups: dict[str, tuple[str, ...]]
    stats: dict[str, InputStatistic]

    @classmethod
    def mix(cls, parts: Sequence[tuple[float, BlockStatistics]]) -> BlockStatistics:
        """H(mix) = sum_s w_s H_s over per-source statistics of the same block (independent mode).

        With weights proportional to each source's token count this is exactly the statistic
        of the pooled sources; the weights need not sum to one (SparseGPT's damping is relative).
        """
        if not parts:
            raise ValueError("mixing needs at least one (weight, statistics) pair")
        first = parts[0][1]
        for _, part in parts:
            if part.kind != first.kind or part.groups != first.groups:
                raise ValueError("statistics of different kinds or linears cannot be mixed")
        stats = {
            key: InputStatistic(
                stat.kind,
                functools.reduce(operator.add, [w * p.stats[key].value for w, p in parts]),  # in order, as sum() would
                sum(p.stats[key].tokens for _, p in parts),
            )
            for key, stat in first.stats.items()
        }
        return cls(first.kind, dict(first.groups), stats)

    @classmethod
    def pooled(cls, parts: Sequence[BlockStatistics]) -> BlockStatistics:
        """The statistic of the parts' inputs taken together: ``mix`` weighted by token counts,
        so the first n windows' statistic extends to the first m > n exactly (to rounding)."""
        tokens = [next(iter(p.stats.values())).tokens if p.stats else 0 for p in parts]
        total = sum(tokens)
        if total == 0:
            raise ValueError("pooling needs statistics of at least one token")
        return cls.mix([(t / total, p) for t, p in zip(tokens, parts, strict=True)])

    @classmethod
    def unshared(cls, names: Sequence[str]) -> BlockStatistics:
        """No statistics and no grouping: what a method that needs no calibration gets."""
        return cls("none", {name: (name,) for name in names}, {})

    def to(self, device: torch.device | str) -> BlockStatistics:
        """The same statistics with every tensor on ``device`` (a no-op where they already are)."""
        moved = {k: InputStatistic(v.kind, v.value.to(device), v.tokens) for k, v in self.stats.items()}
        return BlockStatistics(self.kind, dict(self.groups), moved)


class _InputCollector:
    """Forward pre-hooks that group linears by the tensor they read and accumulate once per group.

    During the first forward, the first linear to receive a tensor leads its group and the
    others that receive the same tensor join it; afterwards only leaders accumulate, and every
    member is checked to still read its leader's tensor. Tensors seen in a forward are kept
    alive until it ends, so a freed storage cannot be mistaken for a shared input.
    """

    def __init__(self, kind: Literal["hessian", "diag"], device: torch.device, *, share_inputs: bool) -> None:
        self.kind, self.device, self.share_inputs = kind, device, share_inputs
        self.leader: dict[str, str] = {}  # linear name -> name of the linear leading its group
        self.stats: dict[str, InputStatistic] = {}
        self._this_forward: dict[tuple[Any, ...], tuple[str, torch.Tensor]] = {}

    def hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def pre_hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0]  # (..., in)
            key = _tensor_key(x) if self.share_inputs else (name,)
            first_reader, _ = self._this_forward.setdefault(key, (name, x))
            if name not in self.leader:
                self.leader[name] = self.leader.get(first_reader, first_reader)
            elif self.leader[name] != self.leader.get(first_reader, first_reader):
                raise RuntimeError(f"{name} stopped sharing its input with {self.leader[name]} between batches")
            if self.leader[name] == name:
                if name not in self.stats:
                    self.stats[name] = InputStatistic.empty(self.kind, x.shape[-1], device=self.device)
                self.stats[name].add(x)

        return pre_hook

    def end_forward(self) -> None:
        self._this_forward.clear()

    def groups(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for name, leader in self.leader.items():
            out.setdefault(leader, []).append(name)
        return {leader: tuple(names) for leader, names in out.items()}


def _tensor_key(x: torch.Tensor) -> tuple[Any, ...]:
    return (x.data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x.dtype, x.device)


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

    Linears reading the same tensor share one statistic (``share_inputs=False`` gives each
    its own: the benchmark's baseline). ``block`` must already sit on ``device`` (default:
    where its parameters are); ``hidden`` may live elsewhere (CPU) and moves over
    ``batch_size`` samples at a time.
    """
    device = torch.device(device) if device is not None else next(block.parameters()).device
    collector = _InputCollector(kind, device, share_inputs=share_inputs)
    handles = [module.register_forward_pre_hook(collector.hook(name)) for name, module in linears.items()]
    try:
        for start in range(0, hidden.shape[0], batch_size):
            x = hidden[start : start + batch_size].to(device)
            call_block(block, x, block_args(x, index))
            collector.end_forward()
    finally:
        for handle in handles:
            handle.remove()
    missing = set(linears) - set(collector.leader)
    assert not missing, f"linears never called in the block's forward: {sorted(missing)}"
    return BlockStatistics(kind, collector.groups(), collector.stats)
