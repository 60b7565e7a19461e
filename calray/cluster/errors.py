"""What can go wrong between the pool and its shards, and who handles it.

- ``ShardMemoryError`` (a ``CalrayError``): a job can never fit on a shard, even alone; the
  message gives the numbers and what to lower. The job fails, the pool keeps serving.
- ``ShardBusy``: the job would fit once other jobs leave the shard (memory or the per-shard
  cap on pruned copies); the pool waits and asks again (back-pressure).
- ``JobLost``: a shard no longer holds a job's pruned copy, because Ray restarted it after a
  crash; the pool runs the job again from the start.
- ``StatisticsMissing``: independent mode asked for per-source statistics a shard does not
  hold (evicted, or lost in a restart); the pool computes them again and retries.

``RETRYABLE`` lists what the pool re-runs a job for; ``raising_cause`` unwraps a Ray task
error into its cause, where the pool and the client need to tell these apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ray

from calray.errors import CalrayError


class ShardMemoryError(CalrayError):
    """A job needs more memory than a shard has, even with no other job on it."""


class ShardBusy(Exception):
    """Retry later: the shard is full of other jobs."""


class JobLost(Exception):
    """The shard has no pruned copy of this job (it was restarted); re-run the job."""


class StatisticsMissing(Exception):
    """The shard lacks the per-source statistics named in the message; compute them again."""


RETRYABLE = (ray.exceptions.RayActorError, JobLost, StatisticsMissing)
"""What makes the pool run a job again: a crashed shard, or a shard that lost what the job needs."""


def task_cause(exc: BaseException) -> BaseException:
    """The exception a Ray task raised, unwrapped from ``RayTaskError``."""
    return getattr(exc, "cause", None) or exc


@contextmanager
def raising_cause(*kinds: type[BaseException]) -> Iterator[None]:
    """Inside the block, a ``RayTaskError`` whose cause is one of ``kinds`` is raised as that
    cause, without Ray's wrapper: callers catch ``JobLost`` or ``CalrayError`` as themselves."""
    try:
        yield
    except ray.exceptions.RayTaskError as exc:
        cause = task_cause(exc)
        if isinstance(cause, kinds):
            raise cause from None
        raise
