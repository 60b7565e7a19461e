"""What can go wrong between the pool and its shards, and who handles it.

- ``ShardMemoryError`` (a ``CalrayError``): a job can never fit on a shard, even alone; the
  message gives the numbers and what to lower. The job fails, the pool keeps serving.
- ``ShardBusy``: the job would fit once other jobs leave the shard (memory or the per-shard
  cap on pruned copies); the pool waits and asks again (back-pressure).
- ``JobLost``: a shard no longer holds a job's pruned copy, because Ray restarted it after a
  crash; the pool runs the job again from the start.
- ``StatisticsMissing``: independent mode asked for per-source statistics a shard does not
  hold (evicted, or lost in a restart); the pool computes them again and retries.
"""

from __future__ import annotations

from calray.errors import CalrayError


class ShardMemoryError(CalrayError):
    """A job needs more memory than a shard has, even with no other job on it."""


class ShardBusy(Exception):
    """Retry later: the shard is full of other jobs."""


class JobLost(Exception):
    """The shard has no pruned copy of this job (it was restarted); re-run the job."""


class StatisticsMissing(Exception):
    """The shard lacks the per-source statistics named in the message; compute them again."""
