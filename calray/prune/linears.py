"""Which linears of a decoder block get pruned, and their weights seen as (out, in).

Every ``nn.Linear`` and GPT-2 ``Conv1D`` inside a decoder block is prunable; embeddings and
the LM head live outside the blocks and are never touched. ``include``/``exclude`` are
shell-style patterns (``fnmatch``) over the full module name, e.g. ``"model.layers.0.*"`` or
``"*.self_attn.*"``. GPT-2 stores a Conv1D weight as (in, out): solvers always see (out, in).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

PRUNABLE = (nn.Linear, Conv1D)

Blocks = Sequence[nn.Module] | nn.ModuleList  # a model's decoder blocks, or a shard's slice of them


def block_name(prefix: str, index: int) -> str:
    """The module name of decoder block ``index`` under ``prefix`` (``model.layers.3``)."""
    return f"{prefix}.{index}" if prefix else str(index)


def find_linears(
    block: nn.Module, *, prefix: str, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()
) -> dict[str, nn.Module]:
    """Full name (``prefix.local``) -> module, for the prunable linears of ``block`` that match."""
    found: dict[str, nn.Module] = {}
    for local, module in block.named_modules():
        if not isinstance(module, PRUNABLE):
            continue
        name = f"{prefix}.{local}" if prefix else local
        if any(fnmatchcase(name, p) for p in include) and not any(fnmatchcase(name, p) for p in exclude):
            found[name] = module
    return found


def select_linears(
    blocks: Blocks,
    *,
    first_index: int = 0,
    prefix: str = "",
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
) -> list[dict[str, nn.Module]]:
    """Per block (model blocks ``first_index``, ``first_index + 1``, ...), the linears to prune,
    named as in the whole model: what every driver (sequential, independent, a shard) prunes."""
    return [
        find_linears(block, prefix=block_name(prefix, first_index + i), include=include, exclude=exclude)
        for i, block in enumerate(blocks)
    ]


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The weight as (out, in): a view for Conv1D's transposed storage, never a copy."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor), f"{type(module).__name__} has no weight tensor"
    return weight.detach().t() if isinstance(module, Conv1D) else weight.detach()


def in_features(module: nn.Module) -> int:
    return int(weight_matrix(module).shape[1])


@torch.no_grad()
def set_weight(module: nn.Module, pruned: torch.Tensor) -> None:
    """Write a pruned (out, in) weight back in place, keeping the module's own layout."""
    weight_matrix(module).copy_(pruned)
