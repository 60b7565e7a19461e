"""Independent mode: every block pruned from per-source statistics mixed per job.

Sequential mode (driver.py) prunes block i on the outputs of the already-pruned blocks before
it, so its statistics depend on the whole mixture. Independent mode collects each block's
Hessians once per calibration source and mixes them per job, so a new mixture costs only the
solves. Two choices keep it close to sequential mode:

- **Allocated windows.** A mixture allocates n_s of its N windows to source s, and sequential
  mode prunes on the first n_s windows of each source. ``prefix_statistics`` gives, in one pass
  over a source's windows, the statistic of its first n windows for every n asked for; mixing
  them with weights n_s / N is then exactly the statistic of the mixture's N windows for every
  block whose inputs both modes share (block 0), so data volume does not grow with the number
  of sources.
- **An anchor.** Statistics of block i are collected on the dense block i, but its inputs may
  come through other blocks (``through``): those of an anchor model pruned in sequential mode
  (e.g. on the uniform mix), which carries pruning error forward as sequential mode does.
  Without ``through`` the inputs are the dense model's own.

A shard caches the statistics per source for its blocks and mixes them for each job;
``calray export`` streams them block by block in one process. Both prune with
``prune_mixed``::

    parts = [(n / N, (stats[n] for stats, _ in prefix_statistics(blocks, embed(ids), args, [n])))
             for n, ids in allocated_sources]
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
def prefix_statistics(
    blocks: Blocks,
    hidden: torch.Tensor,
    block_args: BlockArgsFn,
    counts: Iterable[int],
    *,
    through: Blocks | None = None,
    first_index: int = 0,
    prefix: str = "",
    device: Device | None = None,
    storage_device: Device = "cpu",
    batch_size: int = 8,
    forward: bool = True,
) -> Iterator[tuple[dict[int, BlockStatistics], torch.Tensor]]:
    """Block by block, {n: the Hessians of *every* linear of the block on the first n samples of
    ``hidden`` (samples, seq, hidden)} for each n in ``counts``, and the next block's input.

    One pass over the first max(counts) samples: the segments between consecutive counts are
    accumulated once and pooled cumulatively. The next block's input is the output of
    ``through[i]`` (an anchor's block) or, by default, of the block itself (dense), on those
    samples (``hidden`` unchanged when ``forward`` is False). Each pair is yielded only after
    the outputs are computed, so the caller may prune the block before asking for the next
    one. Statistics cover every linear, whatever a job includes, so one cached entry serves
    any ``include``/``exclude``.
    """
    ends = sorted(set(counts))
    if not ends or ends[0] < 1 or ends[-1] > hidden.shape[0]:
        raise ValueError(f"counts {ends} must lie in 1..{hidden.shape[0]} (the samples given)")
    if through is not None and len(through) != len(blocks):
        raise ValueError(f"{len(through)} anchor blocks for {len(blocks)} blocks")
    hidden = hidden[: ends[-1]]
    for offset, block in enumerate(blocks):
        index = first_index + offset
        name = block_name(prefix, index)
        compute = torch.device(device) if device is not None else next(block.parameters()).device
        linears = find_linears(block, prefix=name)
        out: dict[int, BlockStatistics] = {}
        running: BlockStatistics | None = None
        for begin, end in zip([0, *ends[:-1]], ends, strict=True):
            segment = collect_statistics(block, linears, hidden[begin:end], block_args, index=index, kind="hessian",
                                         device=compute, batch_size=batch_size)
            running = segment if running is None else BlockStatistics.pooled([running, segment])
            out[end] = running.to(storage_device)
        if forward:
            source = through[offset] if through is not None else block
            hidden = run_block(source, hidden, block_args, index=index, device=compute, storage_device=storage_device,
                               batch_size=batch_size, name=name)
        yield out, hidden


def dense_statistics(
    blocks: Blocks,
    hidden: torch.Tensor,
    block_args: BlockArgsFn,
    *,
    through: Blocks | None = None,
    first_index: int = 0,
    prefix: str = "",
    device: Device | None = None,
    storage_device: Device = "cpu",
    batch_size: int = 8,
    forward: bool = True,
) -> Iterator[tuple[BlockStatistics, torch.Tensor]]:
    """``prefix_statistics`` on all of ``hidden``: block by block, the Hessians of every linear
    on every sample, and the next block's input."""
    n = int(hidden.shape[0])
    passes = prefix_statistics(blocks, hidden, block_args, [n], through=through, first_index=first_index, prefix=prefix,
                               device=device, storage_device=storage_device, batch_size=batch_size, forward=forward)
    for stats, outputs in passes:
        yield stats[n], outputs


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
