"""A shard: one device's slice of the model, pruning its blocks for every job that passes through.

``ShardWorker`` is a plain class (tests drive it in-process); the pipeline runs it as a Ray
actor with two concurrency groups: ``compute`` (one thread: pruning, statistics, forwards,
in the order their inputs arrive) and ``control`` (admission, release, bookkeeping, answered
while a long computation runs). The dense blocks are never modified: each job gets its own
pruned copy, keyed by job id, until the pool releases it after evaluation.

Every computation is the single-process driver's own code (``calray.prune``): the sequential
mode calls ``prune_blocks`` with ``first_index`` = the shard's first block, exactly as
``prune_model`` calls it on all blocks, so S shards reproduce one process.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch
from torch import nn
from transformers import DynamicCache

from calray.cluster.errors import JobLost, ShardBusy, ShardMemoryError, StatisticsMissing
from calray.cluster.loading import ShardModel, load_shard
from calray.cluster.memory import Footprint, GiB, estimate, free_bytes
from calray.cluster.stats_cache import StatisticsCache
from calray.evaluate import ContinuationQuery, score_continuations
from calray.prune import (
    BlockStatistics,
    LinearReport,
    PruneSettings,
    block_name,
    call_block,
    dense_statistics,
    embed_samples,
    padded_position_ids,
    prune_blocks,
    prune_mixed,
    run_block,
)

log = logging.getLogger(__name__)

# What the last stage returns from a forward: full logits (None), one (log-prob, greedy)
# pair per continuation ("score"), or each row's greedy next token ("next").
Reduce = tuple[str, Any] | None

CONCURRENCY_GROUPS = {"compute": 1, "control": 1}
MAX_SESSIONS = 256  # open generation caches per shard (each is one batch's keys and values)


@dataclass(frozen=True)
class ShardOptions:
    """How every shard of a pool is started: the pool builds one from its ``PoolConfig``
    (``PoolConfig.shard_options``) and each ``ShardWorker`` reads it.

    ``max_jobs`` caps the pruned copies a shard holds at once; ``stats_memory_bytes`` /
    ``stats_dir`` / ``stats_disk_bytes`` size the per-source statistics cache; ``setup`` runs
    first in the shard's process (e.g. registering sources or methods); ``headroom`` is the
    fraction of free memory never promised to a job.
    """

    device: str = "cpu"  # "cpu" or "cuda": one GPU per shard
    cpus: float = 1.0  # CPUs reserved per shard (a fraction is fine on a CPU machine)
    threads: int = 1  # torch threads per shard
    dtype: str | None = None
    max_jobs: int = 4
    stats_memory_bytes: int = 2 << 30
    stats_dir: str | None = None
    stats_disk_bytes: int | None = None
    headroom: float = 0.1
    max_restarts: int = 3
    attn_implementation: str | None = None
    setup: Callable[[], None] | None = None

    def bundle(self) -> dict[str, float]:
        """The placement-group bundle of one shard."""
        return {"CPU": self.cpus, "GPU": 1} if self.device == "cuda" else {"CPU": self.cpus}


class ShardWorker:
    """Blocks [start, stop) of the model in ``model_dir``, started as ``options`` say (see the
    module docstring)."""

    def __init__(self, model_dir: str, start: int, stop: int, options: ShardOptions = ShardOptions()) -> None:
        if options.setup is not None:
            options.setup()
        torch.set_num_threads(options.threads)
        self.device = torch.device(options.device)
        self.shard: ShardModel = load_shard(
            model_dir, start, stop, dtype=options.dtype, device=self.device, attn_implementation=options.attn_implementation
        )
        self.block_args = self.shard.block_args()
        self.max_jobs = options.max_jobs
        self.headroom = options.headroom
        self.incarnation = uuid.uuid4().hex[:8]
        self.stats = StatisticsCache(
            memory_bytes=options.stats_memory_bytes,
            directory=Path(options.stats_dir) / f"blocks-{start}-{stop}" if options.stats_dir else None,
            disk_bytes=options.stats_disk_bytes,
        )
        self._copies: dict[str, list[nn.Module]] = {}
        self._reserved: dict[str, Footprint] = {}
        self._lock = threading.Lock()
        self._activity: deque[tuple[str, str, float, float]] = deque(maxlen=100_000)
        self._sessions: OrderedDict[str, Any] = OrderedDict()  # generation session -> KV cache of these blocks

    # --- control -----------------------------------------------------------------------------
    @ray.method(concurrency_group="control")
    def describe(self) -> dict[str, Any]:
        with self._lock:
            jobs = sorted(set(self._copies) | set(self._reserved))
        return {
            "blocks": (self.shard.start, self.shard.stop),
            "device": str(self.device),
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "jobs": jobs,
            "statistics": self.stats.keys_in_memory(),
            "tensors_read": len(self.shard.tensors_read),
        }

    @ray.method(concurrency_group="control")
    def memory(self) -> dict[str, Any]:
        """Free bytes of this shard's device, its type, the shard's blocks and the bytes of one of
        their parameters: what an evaluation with ``batch_size="auto"`` sizes its batches from."""
        itemsize = next(self.shard.blocks[0].parameters()).element_size()
        return {"free": free_bytes(self.device), "device": self.device.type, "blocks": len(self.shard.blocks),
                "itemsize": itemsize}

    @ray.method(concurrency_group="control")
    def admit(self, job_id: str, *, nsamples: int, seqlen: int, batch_size: int, sequential: bool) -> None:
        """Reserve room for one job, or raise ``ShardBusy`` (room may free up) or
        ``ShardMemoryError`` (it cannot fit even alone)."""
        need = estimate(self.shard, nsamples=nsamples, seqlen=seqlen, batch_size=batch_size, sequential=sequential)
        with self._lock:
            held = set(self._copies) | set(self._reserved)
            if job_id in held:
                return
            if len(held) >= self.max_jobs:
                raise ShardBusy(f"shard {self.label} holds {len(held)} jobs (max_jobs={self.max_jobs})")
            promised = list(self._reserved.values())  # admitted jobs whose copies do not exist yet
            host_free = free_bytes(torch.device("cpu")) * (1 - self.headroom) - sum(f.activations for f in promised)
            device_free = free_bytes(self.device) * (1 - self.headroom) - sum(f.device_bytes() for f in promised)
            if self.device.type == "cpu":  # one pool of memory: everything comes out of it
                device_free -= sum(f.activations for f in promised)
                fits = need.device_bytes() + need.activations <= device_free
            else:
                fits = need.device_bytes() <= device_free and need.activations <= host_free
            if not fits:
                if held:
                    raise ShardBusy(f"shard {self.label} is short of memory while it holds {len(held)} other jobs")
                raise ShardMemoryError(
                    f"a job of {nsamples} windows x {seqlen} tokens needs {need.describe()} on shard {self.label} "
                    f"({self.device}), but only {max(device_free, 0) / GiB:.2f} GiB is free there; lower nsamples, "
                    "seqlen or batch_size, or split the model over more stages"
                )
            self._reserved[job_id] = need

    @ray.method(concurrency_group="control")
    def release(self, job_id: str) -> bool:
        """Drop a job's pruned copy and reservation; True if there was anything to drop."""
        with self._lock:
            had = self._copies.pop(job_id, None) is not None
            had = self._reserved.pop(job_id, None) is not None or had
        if had and self.device.type == "cuda":
            torch.cuda.empty_cache()
        return had

    @ray.method(concurrency_group="control")
    def end_session(self, session: str) -> None:
        """Drop a generation session's KV cache."""
        with self._lock:
            self._sessions.pop(session, None)

    @ray.method(concurrency_group="control")
    def holds(self, job_id: str) -> bool:
        """Whether this shard holds a pruned copy of ``job_id`` (an anchor kept across jobs)."""
        with self._lock:
            return job_id in self._copies

    @ray.method(concurrency_group="control")
    def has_statistics(self, keys: Sequence[str]) -> list[bool]:
        return [self._stats_key(k) in self.stats for k in keys]

    @ray.method(concurrency_group="control")
    def activity(self) -> list[tuple[str, str, float, float]]:
        """(what, job, start, end) of every computation, wall-clock seconds: stage utilisation."""
        return list(self._activity)

    @ray.method(concurrency_group="control")
    def weights(self, job_id: str | None) -> dict[str, torch.Tensor]:
        """The state of this shard's blocks (a job's pruned copy, or dense), named as in the model."""
        blocks = self._blocks(job_id)
        return {
            f"{block_name(self.shard.prefix, self.shard.start + i)}.{name}": t.detach().cpu().clone()
            for i, block in enumerate(blocks)
            for name, t in block.state_dict().items()
        }

    # --- compute -----------------------------------------------------------------------------
    @ray.method(concurrency_group="compute", num_returns=2)
    def prune_sequential(
        self, job_id: str, settings: PruneSettings, inputs: torch.Tensor
    ) -> tuple[torch.Tensor | None, list[LinearReport]]:
        """Prune a copy of the blocks on ``inputs`` (token windows on the first stage, the
        previous stage's pruned outputs after it); return the pruned outputs (None from the
        last stage) and one report per pruned linear."""
        start = time.time()
        blocks = self._new_copy(job_id)
        try:
            hidden = self._hidden(inputs, settings.batch_size)
            out, reports = prune_blocks(
                blocks, hidden, self.block_args, settings.pruning_method(), settings.target(),
                first_index=self.shard.start, prefix=self.shard.prefix, include=settings.include,
                exclude=settings.exclude, storage_device="cpu", batch_size=settings.batch_size,
                layer_errors=settings.layer_errors, progress=False,
            )
        except BaseException:
            self.release(job_id)
            raise
        self._settle(job_id)
        self._log("prune", job_id, start)
        return (None if self.shard.last else out), reports

    @ray.method(concurrency_group="compute")
    def collect(
        self, key: str, inputs: torch.Tensor, *, batch_size: int, forward: bool = True, through: str | None = None
    ) -> torch.Tensor | None:
        """Statistics of every dense block for the windows ``key`` names (cached), and the
        outputs for the next stage (None when ``forward`` is False or on the last stage): the
        dense blocks', or those of the pruned copy of job ``through`` (an anchor)."""
        start = time.time()
        hidden = self._hidden(inputs, batch_size)
        forward = forward and not self.shard.last
        anchor = self._blocks(through) if through is not None else None
        if self.stats.get(self._stats_key(key)) is None:
            # Kept in host memory; a job moves one block's mix at a time to the device.
            entry: list[BlockStatistics] = []
            passes = dense_statistics(self.shard.blocks, hidden, self.block_args, through=anchor,
                                      first_index=self.shard.start, prefix=self.shard.prefix, batch_size=batch_size,
                                      forward=forward)
            for stats, outputs in passes:
                entry.append(stats)
                hidden = outputs  # the next block's input; after the last block, the next stage's
            self.stats.put(self._stats_key(key), entry)
        elif forward:
            for offset, block in enumerate(anchor or self.shard.blocks):
                index = self.shard.start + offset
                hidden = run_block(block, hidden, self.block_args, index=index, device=self.device, storage_device="cpu",
                                   batch_size=batch_size, name=block_name(self.shard.prefix, index))
        self._log("statistics", key, start)
        return hidden if forward else None

    @ray.method(concurrency_group="compute")
    def prune_independent(
        self, job_id: str, settings: PruneSettings, parts: Sequence[tuple[float, str]]
    ) -> list[LinearReport]:
        """Prune a copy of the blocks from the mixture sum_s w_s H_s of cached dense statistics."""
        start = time.time()
        entries = [(weight, self._cached(key)) for weight, key in parts] if settings.needs_calibration() else []
        blocks = self._new_copy(job_id)
        try:
            reports = prune_mixed(
                blocks, entries, settings.pruning_method(), settings.target(), first_index=self.shard.start,
                prefix=self.shard.prefix, include=settings.include, exclude=settings.exclude,
                layer_errors=settings.layer_errors, device=self.device,
            )
        except BaseException:
            self.release(job_id)
            raise
        self._settle(job_id)
        self._log("prune", job_id, start)
        return reports

    @ray.method(concurrency_group="compute")  # no other decorator here: Ray would lose the group
    def forward(
        self,
        job_id: str | None,
        inputs: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        reduce: Reduce = None,
        session: str | None = None,
    ) -> Any:
        """One evaluation batch through this shard (a job's pruned copy, or dense for None):
        token ids (first stage) or hidden states in; hidden states out, or from the last stage
        logits reduced as ``reduce`` says. ``attention_mask`` marks left padding.

        With ``session`` (greedy generation), the shard keeps a KV cache for its blocks under
        that name: the first call brings the prompt, each later one only the newest tokens,
        with ``attention_mask`` covering everything so far; ``end_session`` drops the cache.
        """
        start = time.time()
        with torch.no_grad():
            out = self._forward(self._blocks(job_id), inputs, attention_mask, reduce, session)
        self._log("forward", job_id or "dense", start)
        return out

    # --- helpers -----------------------------------------------------------------------------
    def _forward(
        self, blocks: list[nn.Module], inputs: torch.Tensor, attention_mask: torch.Tensor | None, reduce: Reduce,
        session: str | None,
    ) -> Any:
        x = inputs.to(self.device)
        mask = attention_mask.to(self.device) if attention_mask is not None else None
        if session is not None:
            if mask is None:
                raise ValueError("cached decoding needs the attention mask of the whole sequence")
            positions: torch.Tensor | None = padded_position_ids(mask)[:, -x.shape[1] :]
            args = self.block_args.cached(mask, self._session_cache(session))
        else:
            positions = padded_position_ids(mask) if mask is not None else None
            args = self.block_args.padded(mask) if mask is not None else self.block_args
        if self.shard.first:
            x = self.shard.adapter.embed(x, positions)
        for offset, block in enumerate(blocks):
            x = call_block(block, x, args(x, self.shard.start + offset))
        if not self.shard.last:
            return x.cpu()
        return _reduce(self.shard.adapter.head(x), reduce)

    @property
    def label(self) -> str:
        return f"[{self.shard.start}, {self.shard.stop})"

    def _stats_key(self, key: str) -> str:
        return f"{key}|blocks={self.shard.start}-{self.shard.stop}"

    def _cached(self, key: str) -> list[BlockStatistics]:
        entry = self.stats.get(self._stats_key(key))
        if entry is None:
            raise StatisticsMissing(key)
        return entry

    def _hidden(self, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
        """The first block's inputs: embedded token windows on the first stage, else as given."""
        if self.shard.first:
            return embed_samples(self.shard.model, inputs, storage_device="cpu", batch_size=batch_size)
        return inputs

    def _new_copy(self, job_id: str) -> list[nn.Module]:
        blocks = [copy.deepcopy(b) for b in self.shard.blocks]
        with self._lock:
            self._copies[job_id] = blocks
        return blocks

    def _settle(self, job_id: str) -> None:
        """The copy now exists, so free memory counts it: its reservation is no longer needed."""
        with self._lock:
            self._reserved.pop(job_id, None)

    def _session_cache(self, session: str) -> Any:
        with self._lock:
            cache = self._sessions.get(session)
            if cache is None:
                cache = self._sessions[session] = DynamicCache(config=self.shard.model.config)
                while len(self._sessions) > MAX_SESSIONS:  # a client that never ended its sessions
                    dropped, _ = self._sessions.popitem(last=False)
                    log.warning("shard %s: dropped the KV cache of generation session %s", self.label, dropped)
            return cache

    def _blocks(self, job_id: str | None) -> list[nn.Module]:
        if job_id is None:
            return self.shard.blocks
        with self._lock:
            blocks = self._copies.get(job_id)
        if blocks is None:
            raise JobLost(f"shard {self.label} (incarnation {self.incarnation}) holds no pruned copy of job {job_id!r}")
        return blocks

    def _log(self, what: str, job: str, start: float) -> None:
        self._activity.append((what, job, start, time.time()))


def _reduce(logits: torch.Tensor, reduce: Reduce) -> Any:
    if reduce is None:
        return logits.float().cpu()  # (B, T, V)
    kind, arg = reduce
    if kind == "score":
        queries: list[ContinuationQuery] = arg
        return score_continuations(logits, queries)
    if kind == "next":
        return logits[:, -1, :].argmax(-1).cpu()  # (B,)
    raise ValueError(f"unknown reduction {kind!r}")
