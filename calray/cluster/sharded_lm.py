"""A saved model evaluated in shards: its decoder blocks split over S Ray actors (one GPU each
on CUDA), for a model too large for one device, with the interface every task already uses.

    with sharded_lm("pruned/", stages=2, device="cuda") as lm:   # a PipelineLM over 2 shards
        run_lmeval(lm, ["hellaswag"], manager=task_manager(["hellaswag"], None))

``calray eval --stages S`` is this; the pipeline (its actors and placement group) is gone when
the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from calray.cluster.eval_model import PipelineLM
from calray.cluster.loading import checkpoint_files, skeleton
from calray.cluster.pipeline import Pipeline, partition
from calray.cluster.runtime import require_resources
from calray.cluster.shard import ShardOptions
from calray.errors import CalrayError
from calray.evaluate.token_lm import BatchSize
from calray.prune import adapter_for


@contextmanager
def sharded_lm(
    model_dir: str | Path,
    *,
    stages: int,
    device: str = "cpu",
    dtype: str | None = None,
    cpus_per_shard: float = 1.0,
    batch_size: BatchSize = 16,
    max_length: int | None = None,
) -> Iterator[PipelineLM]:
    """The model in ``model_dir`` loaded as ``stages`` shard actors (Ray must be up), as a
    ``PipelineLM`` of its dense weights."""
    model_dir = str(Path(model_dir).expanduser().resolve())
    checkpoint_files(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    num_blocks = len(adapter_for(skeleton(config)).blocks)
    if not 1 <= stages <= num_blocks:
        raise CalrayError(f"--stages must be between 1 and the model's {num_blocks} decoder blocks, got {stages}")
    if device not in ("cpu", "cuda"):
        raise CalrayError(f"sharded evaluation runs on cpu or cuda (one GPU per shard), not {device!r}")
    options = ShardOptions(device=device, cpus=cpus_per_shard, dtype=dtype, max_jobs=1)
    need = options.bundle()
    require_resources(cpus=need["CPU"] * stages, gpus=need.get("GPU", 0.0) * stages, what=f"{stages} evaluation shards",
                      fix="lower --stages or --cpus-per-shard")
    pipeline = Pipeline.create(model_dir, partition(num_blocks, stages), options)
    try:
        yield PipelineLM(pipeline, None, AutoTokenizer.from_pretrained(model_dir), config=config,
                         batch_size=batch_size, max_length=max_length)
    finally:
        pipeline.shutdown()
