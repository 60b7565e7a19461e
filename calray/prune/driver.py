"""The layer-by-layer driver: prune decoder blocks in order, each on its pruned predecessors' outputs.

Three pieces, usable alone:
- ``collect_statistics`` (statistics.py): one block's input statistics on given activations;
- ``prune_block``: solve every selected linear of one block from those statistics;
- ``prune_blocks``: the sequential loop over a contiguous range of blocks, returning the
  pruned range's outputs. A single process calls it on all blocks (``prune_model``); a
  shard actor holding blocks [a, b) calls it with ``first_index=a`` and passes the outputs on.

Only the block being pruned sits on the compute device; activations of all calibration
samples live on ``storage_device`` and move over in mini-batches of ``batch_size`` samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from calray.prune.adapters import adapter_for, call_block
from calray.prune.checks import PruningError
from calray.prune.linears import Blocks, block_name, in_features, select_linears, set_weight, weight_matrix
from calray.prune.methods import PruningMethod, Statistic
from calray.prune.metrics import layer_error
from calray.prune.report import LinearReport, PruningReport
from calray.prune.statistics import BlockArgsFn, BlockStatistics, collect_statistics
from calray.prune.target import Target

log = logging.getLogger(__name__)

Device = torch.device | str


def model_linears(
    model: PreTrainedModel, *, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()
) -> list[dict[str, nn.Module]]:
    """Per decoder block, the linears ``prune_model`` would prune (full name -> module)."""
    adapter = adapter_for(model)
    return select_linears(adapter.blocks, prefix=adapter.blocks_path, include=include, exclude=exclude)


def check_widths(selected: Sequence[Mapping[str, nn.Module]], target: Target) -> None:
    """Raise ``CalrayError`` if an n:m ``target`` cannot tile some selected linear's inputs."""
    for linears in selected:
        for name, module in linears.items():
            target.check_width(in_features(module), name=name)


def statistic_needed(method: PruningMethod, *, layer_errors: bool) -> Statistic:
    """The statistic to accumulate: the method's own, or the full Hessian when errors are reported."""
    return "hessian" if layer_errors else method.statistic


@torch.no_grad()
def prune_block(
    linears: Mapping[str, nn.Module],
    statistics: BlockStatistics,
    method: PruningMethod,
    target: Target,
    *,
    index: int,
) -> list[LinearReport]:
    """Prune ``linears`` of block ``index`` in place, preparing each shared statistic once.

    ``statistics`` may come from this block's own (sequential) inputs or from a mixture of
    per-source statistics of the dense model (independent mode). Layer errors are measured
    when the statistics hold full Hessians.
    """
    reports: list[LinearReport] = []
    for key, names in statistics.groups.items():
        names = tuple(n for n in names if n in linears)
        if not names:
            continue
        stat = statistics.stats.get(key)
        start = time.perf_counter()
        prepared = method.prepare(stat.for_method(method.statistic) if stat else None, name=group_label(names))
        info = method.info(prepared)
        shared_seconds = (time.perf_counter() - start) / len(names)
        hessian = stat.value if stat is not None and stat.kind == "hessian" else None
        start = time.perf_counter()
        dense = [weight_matrix(linears[name]) for name in names]  # each (out, in)
        pruned = method.prune_group(dense, prepared, target, names=names)
        total_rows = sum(int(w.shape[0]) for w in dense)
        solve_seconds = time.perf_counter() - start
        for name, W, P in zip(names, dense, pruned, strict=True):
            start = time.perf_counter()
            error = layer_error(W, P, hessian) if hessian is not None else None
            set_weight(linears[name], P)
            reports.append(
                LinearReport(
                    name=name,
                    block=index,
                    shape=(int(W.shape[0]), int(W.shape[1])),
                    zeros=int((P == 0).sum()),
                    layer_error=error,
                    # A group solved together: its time shared by rows, as the work is.
                    seconds=time.perf_counter() - start + shared_seconds + solve_seconds * int(W.shape[0]) / total_rows,
                    info=dict(info),
                )
            )
    return reports


def group_label(names: Sequence[str]) -> str:
    """``a.b.{q,k,v}`` for linears sharing one input: how a failure of their shared statistic is named."""
    if len(names) == 1:
        return names[0]
    parts = [n.split(".") for n in names]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    head = ".".join(parts[0][:common])
    tails = ",".join(".".join(p[common:]) for p in parts)
    return f"{head}.{{{tails}}}" if head else f"{{{tails}}}"


@torch.no_grad()
def run_block(
    block: nn.Module,
    hidden: torch.Tensor,
    block_args: BlockArgsFn,
    *,
    index: int,
    device: Device,
    storage_device: Device,
    batch_size: int,
    name: str = "block",
) -> torch.Tensor:
    """The block's outputs for all samples, computed in mini-batches on ``device``.

    Non-finite outputs raise ``PruningError`` naming the block, before they poison the next
    block's statistics.
    """
    out = torch.empty(hidden.shape, dtype=hidden.dtype, device=storage_device)
    for start in range(0, hidden.shape[0], batch_size):
        x = hidden[start : start + batch_size].to(device)
        y = call_block(block, x, block_args(x, index))
        if not torch.isfinite(y).all():
            raise PruningError(name, f"its outputs on calibration samples {start}.. contain NaN or Inf")
        out[start : start + batch_size] = y.to(storage_device)
    return out


def prune_blocks(
    blocks: Blocks,
    hidden: torch.Tensor | None,
    block_args: BlockArgsFn,
    method: PruningMethod,
    target: Target,
    *,
    first_index: int = 0,
    prefix: str = "",
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    device: Device | None = None,
    storage_device: Device | None = None,
    batch_size: int = 8,
    layer_errors: bool = True,
    share_inputs: bool = True,
    progress: bool = True,
) -> tuple[torch.Tensor | None, list[LinearReport]]:
    """Prune ``blocks`` (model blocks ``first_index``, ``first_index + 1``, ...) sequentially.

    ``hidden`` (samples, seq, hidden) is the first block's input; block i is pruned on the
    outputs of the already-pruned blocks before it, and the last block's pruned outputs are
    returned with one report per pruned linear. Linear names are ``{prefix}.{index}.{local}``.
    ``hidden`` may be None only when nothing needs calibration (magnitude without layer errors).
    Each block moves to ``device`` (default: where it is) while pruned and back afterwards.
    """
    kind = statistic_needed(method, layer_errors=layer_errors)
    if hidden is None and kind != "none":
        raise ValueError(f"calibration activations are required for the {kind!r} statistic")
    storage_device = storage_device or (hidden.device if hidden is not None else "cpu")
    selected = select_linears(blocks, first_index=first_index, prefix=prefix, include=include, exclude=exclude)
    check_widths(selected, target)  # fail before any work, not at the last block
    reports: list[LinearReport] = []
    bar = tqdm(list(zip(blocks, selected, strict=True)), desc="pruning blocks", unit="block", disable=None if progress else True)
    for offset, (block, linears) in enumerate(bar):
        index = first_index + offset
        home = next(block.parameters()).device
        compute = torch.device(device) if device is not None else home
        block.to(compute)
        start = time.perf_counter()
        try:
            if kind == "none":
                statistics = BlockStatistics.unshared(list(linears))
            else:
                assert hidden is not None  # checked above: only "none" runs without activations
                bar.set_postfix_str(f"block {index}: statistics")
                statistics = collect_statistics(
                    block, linears, hidden, block_args, index=index, kind=kind, device=compute,
                    batch_size=batch_size, share_inputs=share_inputs,
                )
            bar.set_postfix_str(f"block {index}: pruning {len(linears)} linears")
            block_reports = prune_block(linears, statistics, method, target, index=index)
            del statistics
            if hidden is not None:
                bar.set_postfix_str(f"block {index}: outputs")
                hidden = run_block(block, hidden, block_args, index=index, device=compute,
                                   storage_device=storage_device, batch_size=batch_size, name=block_name(prefix, index))
        finally:
            block.to(home)  # also on failure: the caller's model is left where it was
        reports.extend(block_reports)
        errors = [r.layer_error for r in block_reports if r.layer_error is not None]
        log.info(
            "block %d: %d linears pruned in %.2fs%s", index, len(block_reports), time.perf_counter() - start,
            f", mean layer error {sum(errors) / len(errors):.4g}" if errors else "",
        )
    return hidden, reports


@torch.no_grad()
def embed_samples(
    model: PreTrainedModel, input_ids: torch.Tensor, *, storage_device: Device = "cpu", batch_size: int = 8
) -> torch.Tensor:
    """The first block's inputs (samples, seq, hidden) for token windows (samples, seq)."""
    adapter = adapter_for(model)
    where = next(model.get_input_embeddings().parameters()).device
    chunks = [adapter.embed(input_ids[s : s + batch_size].to(where)).to(storage_device)
              for s in range(0, input_ids.shape[0], batch_size)]
    return torch.cat(chunks)


def prune_model(
    model: PreTrainedModel,
    input_ids: torch.Tensor | None,
    method: PruningMethod,
    target: Target,
    *,
    device: Device | None = None,
    storage_device: Device = "cpu",
    batch_size: int = 8,
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    layer_errors: bool = True,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
) -> PruningReport:
    """Prune every decoder block of ``model`` in place on calibration windows ``input_ids``.

    ``input_ids`` (samples, seq) may be None when the method needs no statistic and layer
    errors are off. The model stays where it is (CPU) except the block being pruned, which
    visits ``device``. ``config`` is recorded in the report as given.

    >>> from calray.tiny import tiny_model
    >>> from calray.prune import METHODS, Target
    >>> model = tiny_model("llama")
    >>> ids = torch.randint(0, 256, (4, 32))
    >>> report = prune_model(model, ids, METHODS.get("sparsegpt"), Target(sparsity=0.5), progress=False)
    >>> round(report.totals()["sparsity"], 3)
    0.5
    """
    adapter = adapter_for(model)
    model.eval()
    start = time.perf_counter()
    needs_data = statistic_needed(method, layer_errors=layer_errors) != "none"
    if needs_data and input_ids is None:
        raise ValueError("calibration windows are required unless the method needs no statistic")
    hidden = None
    if input_ids is not None and needs_data:
        hidden = embed_samples(model, input_ids, storage_device=storage_device, batch_size=batch_size)
    _, reports = prune_blocks(
        adapter.blocks, hidden, adapter.block_args(), method, target,
        prefix=adapter.blocks_path, include=include, exclude=exclude, device=device,
        storage_device=storage_device, batch_size=batch_size, layer_errors=layer_errors, progress=progress,
    )
    return PruningReport(reports, time.perf_counter() - start, dict(config or {}))
