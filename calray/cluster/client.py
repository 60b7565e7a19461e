"""Starting the pool actor and talking to it from any process of the Ray job.

The Tune driver (calray.sweep) is the pool's client; a trial needs only this::

    pool = connect_pool()                      # or receive the PoolClient from the driver
    result = pool.prune_and_evaluate(job)      # blocks; a job's own failure is a "failed" result
    tune.report(result.metrics())

and the driver sizes its concurrency with ``pool.capacity()["slots"]``.
"""

from __future__ import annotations

import re
from typing import Any

import ray

from calray.cluster.errors import raising_cause
from calray.cluster.job import Job, JobResult
from calray.cluster.pool import DEFAULT_NAME, PoolConfig, PoolCore
from calray.cluster.runtime import require_resources
from calray.config import validate
from calray.errors import CalrayError

PoolActor = ray.remote(PoolCore)


class PoolClient:
    """A handle on a running pool; picklable, so it can be passed to Tune trials."""

    def __init__(self, actor: Any, name: str) -> None:
        self.actor = actor
        self.name = name

    def submit(self, job: Job | dict[str, Any]) -> ray.ObjectRef:
        """Start a job; ``ray.get`` the ref for its ``JobResult``."""
        return self.actor.prune_and_evaluate.remote(job if isinstance(job, Job) else validate(Job, job, "job"))

    def prune_and_evaluate(self, job: Job | dict[str, Any]) -> JobResult:
        """Run a job and wait for its result. A job's own failure (NaN, a Hessian no damping
        fixes, a job that can never fit) is a ``failed`` result; a bad request (unknown source,
        task or map) raises ``CalrayError``."""
        with raising_cause(CalrayError):
            return ray.get(self.submit(job))

    def dense_scores(self, job: Job | dict[str, Any]) -> dict[str, dict[str, float]]:
        """The dense model's scores (task -> metric -> value) on the job's ``evaluation`` settings
        (capability map, dimensions, limit, max_new_tokens and eval_seed)."""
        job = job if isinstance(job, Job) else validate(Job, job, "job")
        with raising_cause(CalrayError):
            return ray.get(self.actor.dense_scores.remote(job))

    def capacity(self) -> dict[str, Any]:
        """Pipelines, stages, device, ``slots`` (jobs to keep in flight), load and counters."""
        return ray.get(self.actor.capacity.remote())

    def status(self) -> list[dict[str, Any]]:
        """The jobs in flight, with their pipeline, attempt and phase."""
        return ray.get(self.actor.status.remote())

    def shards(self) -> list[list[Any]]:
        """The shard actor handles, per pipeline in stage order."""
        return ray.get(self.actor.shards.remote())

    def activity(self) -> list[list[list[tuple[str, str, float, float]]]]:
        """Per pipeline, per stage: (what, job, start, end) of every computation."""
        return ray.get(self.actor.activity.remote())

    def shutdown(self) -> None:
        """Stop the shards and the pool actor."""
        ray.get(self.actor.shutdown.remote())
        ray.kill(self.actor, no_restart=True)


def start_pool(
    config: PoolConfig | dict[str, Any], *, name: str = DEFAULT_NAME, setup: Any = None, max_concurrency: int = 256
) -> PoolClient:
    """Start the named pool actor (its shards load the model) and wait until it serves.

    ``setup`` (a picklable function) runs first in the pool and in every shard process, e.g. to
    register calibration sources or tasks defined in Python. ``max_concurrency`` bounds the
    requests waiting at once (each waits in a thread of the actor).
    """
    if not isinstance(config, PoolConfig):
        config = validate(PoolConfig, config, "pool config")
    if not ray.is_initialized():
        raise CalrayError("Ray is not initialised in this process; call calray.cluster.init_ray() first")
    shards = config.pipelines * config.stages
    require_resources(cpus=shards * config.cpus_per_shard, gpus=shards if config.device == "cuda" else 0.0)
    actor = PoolActor.options(name=name, max_concurrency=max_concurrency, num_cpus=0, max_restarts=0).remote(
        config, setup=setup, name=name
    )
    try:
        ray.get(actor.capacity.remote())
    except ray.exceptions.RayActorError as exc:
        ray.kill(actor, no_restart=True)
        raise CalrayError(f"the pool {name!r} failed to start: {_raised(exc)}") from None
    return PoolClient(actor, name)


def _raised(exc: BaseException) -> str:
    """The message of the exception a failed actor constructor raised (last line of its traceback)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        match = re.match(r"^[\w.]*(?:Error|Exception)\w*: (.*)$", line)
        if match:
            return match.group(1)
    return lines[-1] if lines else repr(exc)


def connect_pool(name: str = DEFAULT_NAME) -> PoolClient:
    """The running pool called ``name`` (from any process of the same Ray job and namespace)."""
    try:
        actor = ray.get_actor(name)
    except ValueError:
        raise CalrayError(f"no pool named {name!r} is running in this Ray namespace; start one with start_pool(...)") from None
    return PoolClient(actor, name)
