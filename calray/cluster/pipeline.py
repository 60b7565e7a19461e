"""A pipeline: S shard actors in one placement group, each holding a contiguous slice of blocks.

A job streams through it: stage k's task takes stage k-1's output ``ObjectRef`` as an
argument, so activations go from actor to actor through the object store and never through
the caller, and a stage starts a job as soon as its predecessor finishes it. Several jobs are
therefore in flight at different stages at once; each actor's ``compute`` group runs one
task at a time, in the order inputs become ready.

What travels between stages: per job, its calibration activations once per stage boundary
(nsamples x seqlen x hidden in the model's dtype: 128 x 2048 x 4096 in bfloat16 is 2 GiB for
an 8B Llama), through the object store (shared memory within a node); per evaluation batch,
batch x tokens x hidden. Placement groups pack the stages on one node when they fit.

Shard actors restart after a crash (``max_restarts``), reloading their slice in their
constructor; a task that was running on a crashed actor raises ``RayActorError`` and the
pool re-runs its job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
import torch
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from calray.cluster.errors import ShardBusy
from calray.cluster.shard import CONCURRENCY_GROUPS, Reduce, ShardOptions, ShardWorker
from calray.errors import CalrayError
from calray.prune import PruneSettings

log = logging.getLogger(__name__)

ShardActor = ray.remote(concurrency_groups=CONCURRENCY_GROUPS)(ShardWorker)


def partition(num_blocks: int, stages: int) -> list[tuple[int, int]]:
    """Contiguous block ranges of near-equal size (the first ones one block longer).

    >>> partition(5, 2)
    [(0, 3), (3, 5)]
    """
    if not 1 <= stages <= num_blocks:
        raise CalrayError(f"cannot split {num_blocks} decoder blocks into {stages} stages; use 1..{num_blocks} stages")
    size, extra = divmod(num_blocks, stages)
    bounds, start = [], 0
    for s in range(stages):
        stop = start + size + (s < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass
class Pipeline:
    """Handles of the S shard actors of one pipeline, in stage order."""

    shards: list[Any]  # ActorHandle[ShardWorker]
    bounds: list[tuple[int, int]]
    group: PlacementGroup | None = None
    index: int = 0
    _killed: bool = field(default=False, repr=False)

    @classmethod
    def create(
        cls, model_dir: str, bounds: Sequence[tuple[int, int]], options: ShardOptions, *, index: int = 0,
        name: str | None = None, timeout: float = 600.0,
    ) -> Pipeline:
        """Reserve one bundle per stage (PACK: one node when it fits) and start the shards."""
        group = placement_group([options.bundle() for _ in bounds], strategy="PACK", name=name or "")
        try:
            ray.get(group.ready(), timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            remove_placement_group(group)
            need = options.bundle()
            raise CalrayError(
                f"the cluster cannot host a pipeline of {len(bounds)} shards of {need} each within {timeout:.0f}s "
                f"(cluster has {ray.cluster_resources()}); check `ray status`, lower the stages or pipelines, "
                "or give each shard fewer CPUs"
            ) from None
        shards = []
        for stage, (start, stop) in enumerate(bounds):
            actor = ShardActor.options(
                num_cpus=options.cpus,
                num_gpus=1 if options.device == "cuda" else 0,
                max_restarts=options.max_restarts,
                max_task_retries=0,  # a crashed task is re-run by the pool, as a whole job
                name=f"{name}/stage{stage}" if name else None,
                scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=stage),
            ).remote(model_dir, start, stop, options)
            shards.append(actor)
        pipeline = cls(shards=shards, bounds=list(bounds), group=group, index=index)
        ray.get([s.describe.remote() for s in shards])  # loaded (constructor errors surface here)
        return pipeline

    @property
    def stages(self) -> int:
        return len(self.shards)

    # --- admission -----------------------------------------------------------------------------
    def admit(self, job_id: str, *, nsamples: int, seqlen: int, batch_size: int, sequential: bool) -> None:
        """Reserve room on every stage, or release what was reserved and raise ``ShardBusy`` /
        ``ShardMemoryError``."""
        refs = [
            s.admit.remote(job_id, nsamples=nsamples, seqlen=seqlen, batch_size=batch_size, sequential=sequential)
            for s in self.shards
        ]
        errors = []
        for ref in refs:
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                errors.append(exc)
        if errors:
            self.release(job_id)
            busy = [e for e in errors if isinstance(e, ShardBusy)]
            raise (busy[0] if len(busy) == len(errors) else next(e for e in errors if not isinstance(e, ShardBusy)))

    def release(self, job_id: str) -> None:
        """Drop the job's pruned copies everywhere (a dead shard has nothing to drop)."""
        for ref in [s.release.remote(job_id) for s in self.shards]:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                pass

    # --- pruning -----------------------------------------------------------------------------
    def prune_sequential(
        self, job_id: str, settings: PruneSettings, windows: ray.ObjectRef | torch.Tensor
    ) -> list[ray.ObjectRef]:
        """Chain the stages: each prunes on the previous one's pruned outputs. Returns the
        per-stage report refs (the last one resolves when the whole job is pruned)."""
        hidden, reports = windows, []
        for shard in self.shards:
            hidden, report = shard.prune_sequential.remote(job_id, settings, hidden)
            reports.append(report)
        return reports

    def collect(
        self, key: str, windows: ray.ObjectRef | torch.Tensor, *, batch_size: int, upto: int | None = None,
        through: str | None = None,
    ) -> ray.ObjectRef:
        """Statistics pass for ``key`` through stages 0..``upto`` (default: all), on the dense
        blocks' outputs or those of job ``through`` (an anchor); returns the last stage's ref
        (resolves when every stage has its statistics)."""
        last = self.stages - 1 if upto is None else upto
        hidden = windows
        for stage, shard in enumerate(self.shards[: last + 1]):
            hidden = shard.collect.remote(key, hidden, batch_size=batch_size, forward=stage < last, through=through)
        return hidden

    def holds(self, job_id: str) -> bool:
        """Whether every stage holds a pruned copy of ``job_id``."""
        return all(ray.get([s.holds.remote(job_id) for s in self.shards]))

    def missing_statistics(self, keys: Sequence[str]) -> dict[str, int]:
        """key -> the last stage lacking it, for the keys some stage lacks."""
        have = ray.get([s.has_statistics.remote(list(keys)) for s in self.shards])
        out = {}
        for i, key in enumerate(keys):
            lacking = [stage for stage in range(self.stages) if not have[stage][i]]
            if lacking:
                out[key] = max(lacking)
        return out

    def prune_independent(
        self, job_id: str, settings: PruneSettings, parts: Sequence[tuple[float, str]]
    ) -> list[ray.ObjectRef]:
        """Every stage solves its blocks at once from its cached statistics."""
        return [s.prune_independent.remote(job_id, settings, list(parts)) for s in self.shards]

    # --- evaluation ----------------------------------------------------------------------------
    def forward(
        self,
        job_id: str | None,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        reduce: Reduce = None,
        session: str | None = None,
    ) -> ray.ObjectRef:
        """One batch through every stage; the ref resolves to the last stage's (reduced) output.
        ``session`` names a generation whose KV caches the stages keep (see ``ShardWorker.forward``)."""
        x: Any = input_ids
        for stage, shard in enumerate(self.shards):
            x = shard.forward.remote(job_id, x, attention_mask, reduce if stage == self.stages - 1 else None, session)
        return x

    def memory(self) -> list[dict[str, Any]]:
        """Per stage: free bytes of its device, the device type, its blocks, the bytes of one parameter."""
        return ray.get([s.memory.remote() for s in self.shards])

    def end_session(self, session: str) -> None:
        for ref in [s.end_session.remote(session) for s in self.shards]:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                pass

    def weights(self, job_id: str | None) -> dict[str, torch.Tensor]:
        """Every block's tensors of a job's pruned model (or the dense one), gathered: for tests."""
        out: dict[str, torch.Tensor] = {}
        for part in ray.get([s.weights.remote(job_id) for s in self.shards]):
            out.update(part)
        return out

    def activity(self) -> list[list[tuple[str, str, float, float]]]:
        return ray.get([s.activity.remote() for s in self.shards])

    def wait_ready(self, *, timeout: float = 600.0) -> None:
        """Return once every shard answers (a restarting one has reloaded its slice). Raises
        ``ray.exceptions.ActorDiedError`` when a shard is gone for good (restarts exhausted)."""
        deadline = time.time() + timeout
        while True:
            try:
                ray.get([s.describe.remote() for s in self.shards], timeout=max(deadline - time.time(), 0.1))
                return
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
                if time.time() > deadline:
                    raise CalrayError(f"pipeline {self.index}: a shard did not come back within {timeout:.0f}s") from None
                time.sleep(0.2)

    def describe(self) -> list[dict[str, Any]]:
        return ray.get([s.describe.remote() for s in self.shards])

    def shutdown(self) -> None:
        """Kill the shards (no restart) and free the placement group."""
        if self._killed:
            return
        for shard in self.shards:
            ray.kill(shard, no_restart=True)
        if self.group is not None:
            remove_placement_group(self.group)
        self._killed = True
