"""The distributed engine on Ray: shard actors, pipelines, and the pool that serves trials.

A model is split into S contiguous slices of decoder blocks; each slice lives in a shard
actor on one GPU (or a CPU share), loaded from the safetensors checkpoint alone (no process
holds the whole model). S shards in a placement group form a pipeline: a job's calibration
activations flow stage to stage as ObjectRefs while each stage prunes its blocks with the
single-process driver's own code, so several jobs are in flight at different stages. The
same stages then evaluate the job's pruned copy through the evaluation interface
(``PipelineLM``). A named pool actor owns P pipelines and serves ``prune_and_evaluate(job)``
to any process of the Ray job; Tune trials (calray.sweep) are its clients::

    from calray.cluster import Calibration, Job, PoolConfig, init_ray, start_pool

    init_ray()                                          # or init_ray("auto") inside `ray job submit`
    pool = start_pool(PoolConfig(model="models/llama-8b", pipelines=2, stages=4))
    job = Job(calibration=Calibration(mixture="c4=0.5,gsm8k=0.5", nsamples=128, seqlen=2048),
              prune={"sparsity": 0.6, "mode": "independent"}, evaluation={"capability_map": "paper", "limit": 100})
    result = pool.prune_and_evaluate(job)               # JobResult: retention per dimension, scores, timings
    # in a Tune trial:  connect_pool().prune_and_evaluate(job).metrics()

Two modes (recorded in every result): ``sequential`` prunes each block on the already-pruned
blocks' outputs (the paper's setting); ``independent`` mixes per-source Hessians of the dense
model (or of an anchor's outputs) on the windows sequential mode would allocate each source,
computed once per (model, source, window count) and cached on each shard (memory, then
safetensors on disk), so a mixture with a known allocation costs only the solves and the
evaluation.

Self-calibration sets can be written on the cluster's GPUs too (``generation``: one Ray task
per set). Layering: imports calray.prune, calray.data, calray.evaluate and calray.selfcal; only
calray.sweep, the CLI and jobs/ import this package.
"""

from calray.cluster.client import PoolClient, connect_pool, start_pool
from calray.cluster.entry import PruneEvalConfig, run_prune_eval
from calray.cluster.errors import JobLost, ShardBusy, ShardMemoryError, StatisticsMissing
from calray.cluster.eval_model import PipelineLM
from calray.cluster.job import Calibration, Job, JobError, JobResult
from calray.cluster.loading import ShardModel, checkpoint_files, load_shard
from calray.cluster.pipeline import Pipeline, partition
from calray.cluster.pool import DEFAULT_NAME, PoolConfig, PoolCore
from calray.cluster.runtime import init_ray, require_resources
from calray.cluster.shard import ShardOptions, ShardWorker
from calray.cluster.stats_cache import StatisticsCache

__all__ = [
    "DEFAULT_NAME",
    "Calibration",
    "Job",
    "JobError",
    "JobLost",
    "JobResult",
    "Pipeline",
    "PipelineLM",
    "PoolClient",
    "PoolConfig",
    "PoolCore",
    "PruneEvalConfig",
    "ShardBusy",
    "ShardMemoryError",
    "ShardModel",
    "ShardOptions",
    "ShardWorker",
    "StatisticsCache",
    "StatisticsMissing",
    "checkpoint_files",
    "connect_pool",
    "init_ray",
    "load_shard",
    "partition",
    "require_resources",
    "run_prune_eval",
    "start_pool",
]
