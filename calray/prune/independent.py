"""Independent mode: every block pruned from statistics of the *dense* model's activations.

Sequential mode (driver.py) prunes block i on the outputs of the already-pruned blocks before
it, so its statistics depend on the whole mixture. Independent mode collects each block's
Hessians on the dense model, once per calibration source; a mixture's statistic is then the
weighted sum H(mix) = sum_s w_s H_s (``BlockStatistics.mix``), and a new mixture costs only the
solves. A shard caches ``dense_statistics`` per source for its blocks and mixes them for each
job; ``calray export`` streams them block by block in one process. Both prune with
``prune_mixed``::

    parts = [(w, (stats for stats, _ in dense_statistics(blocks, embed(ids), args)))
             for w, ids in sources]
    reports = prune_mixed(blocks, parts, METHODS.get("sparsegpt"), Target(sparsity=0.6))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from calray.prune.driver import Device, check_widths, prune_block, run_block, statistic_needed
from calray.prune.linears import Blocks, block_name, find_linears, select_linears
from calray.prune.methods import PruningMethod
from calray.prune.report import LinearReport
from calray.prune.statistics import BlockArgsFn, BlockStatistics, collect_statistics
from calray.prune.target import Target


@torch.no_grad()
def dense_statistics(
    blocks: Blocks,
    hidden: torch.Tensor,
    block_args: BlockArgsFn,
    *,
    first_index: int = 0,
    prefix: str = "",
    device: Device | None = None,
    storage_device: Device = "cpu",
    batch_size: int = 8,
    forward: bool = True,
) -> Iterator[tuple[BlockStatistics, torch.Tensor]]:
    """Block by block, the Hessians of *every* linear of the block on ``hidden`` (samples,
    seq, hidden), and the block's dense outputs: the next block's input (``hidden`` unchanged
    when ``forward`` is False).

    Each pair is yielded only after the block's outputs are computed, so the caller may prune
    the block before asking for the next one. Statistics cover every linear, whatever a job
    includes, so one cached entry serves any ``include``/``exclude``.
    """
    for offset, block in enumerate(blocks):
        index = first_index + offset
        name = block_name(prefix, index)
        compute = torch.device(device) if device is not None else next(block.parameters()).device
        stats = collect_statistics(block, find_linears(block, prefix=name), hidden, block_args, index=index,
                                   kind="hessian", device=compute, batch_size=batch_size)
        if forward:
            hidden = run_block(block, hidden, block_args, index=index, device=compute, storage_device=storage_device,
                               batch_size=batch_size, name=name)
        yield stats.to(storage_device), hidden


@torch.no_grad()
def prune_mixed(
    blocks: Blocks,
    parts: Sequence[tuple[float, Iterable[BlockStatistics]]],
    method: PruningMethod,
    target: Target,
    *,
    first_index: int = 0,
    prefix: str = "",
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    layer_errors: bool = True,
    device: Device | None = None,
) -> list[LinearReport]:
    """Prune ``blocks`` in place from H(mix) = sum_s w_s H_s; ``parts`` are (w_s, the per-block
    statistics of source s, in block order), read one block at a time. The weights need not sum
    to one (SparseGPT's damping is relative). ``parts`` is not read when the method needs no
    statistic and layer errors are off."""
    selected = select_linears(blocks, first_index=first_index, prefix=prefix, include=include, exclude=exclude)
    check_widths(selected, target)  # fail before any work, not at the last block
    needs = statistic_needed(method, layer_errors=layer_errors) != "none"
    if needs and not parts:
        raise ValueError("independent pruning needs at least one (weight, statistics) part")
    streams = [iter(stats) for _, stats in parts] if needs else []
    reports: list[LinearReport] = []
    for offset, (block, linears) in enumerate(zip(blocks, selected, strict=True)):
        if needs:
            mixed = BlockStatistics.mix([(w, next(stream)) for (w, _), stream in zip(parts, streams, strict=True)])
            statistics = mixed.to(device if device is not None else next(block.parameters()).device)
        else:
            statistics = BlockStatistics.unshared(list(linears))
        reports += prune_block(linears, statistics, method, target, index=first_index + offset)
    return reports
