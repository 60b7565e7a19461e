"""The plumbing of ``jobs/prune_eval.py``: one YAML config -> a pool -> a few jobs -> results.

```yaml
model: ${CALRAY_SHARED}/models/stories260k   # a model directory, toy (the shipped toy model) or tiny:llama
pool: {pipelines: 1, stages: 2, cpus_per_shard: 0.5}
sources_file: sources.yaml                   # optional: point sources at local files
data: {root: ${CALRAY_SHARED}/data}          # where evaluation tasks read their items
capability_map: paper                        # a registered name, a YAML path or a mapping
defaults: {prune: {sparsity: 0.5}, evaluation: {limit: 8}, calibration: {nsamples: 8, seqlen: 64}}
jobs:
  - {name: c4, calibration: {mixture: c4=1}}
  - {name: mix, calibration: {mixture: "c4=0.5,gsm8k=0.5"}, prune: {mode: independent}}
output: prune_eval.jsonl                     # one JobResult per line
```

``$VARS`` and ``~`` expand in every string; relative paths (model, sources_file, data) are
relative to the config file; ``output`` to the working directory (under ``$CALRAY_RESULTS``
inside a Ray job: ``calray.durable``). A job entry has ``calray.cluster.Job``'s fields; ``defaults`` and
then the entry are merged key by key over ``{evaluation: {capability_map: ...}}``. Every job is
submitted at once, so the pool pipelines them.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import Field

from calray.atomic import check_writable, write_atomic
from calray.cluster.client import start_pool
from calray.cluster.job import Job, JobResult
from calray.cluster.pool import PoolConfig
from calray.config import StrictModel, expand_vars, read_yaml_mapping, validate
from calray.durable import result_path
from calray.models import is_model_name, resolve_model

log = logging.getLogger(__name__)


class PruneEvalConfig(StrictModel):
    """See the module docstring. ``pool`` takes ``PoolConfig``'s fields except ``model`` and
    ``data``, which are given here; ``defaults`` are merged (key by key) under every entry of ``jobs``."""

    model: str
    pool: dict[str, Any] = {}
    sources_file: str | None = None
    data: dict[str, Any] | None = None
    capability_map: str | dict[str, Any] = "paper"
    defaults: dict[str, Any] = {}
    jobs: list[dict[str, Any]] = Field(min_length=1)
    output: str | None = None
    pool_name: str = "calray-prune-eval"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_prune_eval(path: str | Path) -> PruneEvalConfig:
    """Read and validate the config; paths are made absolute relative to the file."""
    path = Path(path)
    config = validate(PruneEvalConfig, expand_vars(read_yaml_mapping(path)), f"config {str(path)!r}")
    base = path.resolve().parent

    def resolve(p: str) -> str:
        return str(Path(p) if Path(p).is_absolute() else (base / p).resolve())

    changes: dict[str, Any] = {}
    if not is_model_name(config.model):
        changes["model"] = resolve(config.model)
    if config.sources_file:
        changes["sources_file"] = resolve(config.sources_file)
    if config.data:
        data = dict(config.data)
        if data.get("root"):
            data["root"] = resolve(data["root"])
        data["files"] = {k: resolve(v) for k, v in (data.get("files") or {}).items()}
        changes["data"] = data
    if isinstance(config.capability_map, str) and config.capability_map.endswith((".yaml", ".yml")):
        changes["capability_map"] = resolve(config.capability_map)
    return config.model_copy(update=changes)


def _setup(sources_file: str | None) -> None:
    """Runs in the pool and every shard process: register the config's sources there."""
    if sources_file:
        from calray.data import use_sources_file

        use_sources_file(sources_file)


def run_prune_eval(config: PruneEvalConfig) -> list[JobResult]:
    """Start a pool, run every job of ``config`` concurrently, write ``output``, stop the pool.

    Ray must be initialised (``init_ray``). Returns the results in the config's job order.
    """
    import ray

    base = _merge({"evaluation": {"capability_map": config.capability_map}}, config.defaults)
    jobs = [validate(Job, _merge(base, entry), f"job {i}") for i, entry in enumerate(config.jobs)]
    pool_config = validate(
        PoolConfig, {**config.pool, "model": resolve_model(config.model), "data": config.data}, "pool"
    )
    setup = functools.partial(_setup, config.sources_file)
    setup()  # fail here, in the driver, on a bad sources file
    if config.output:
        check_writable(result_path(config.output), what="output")  # before the pool runs, not after
    pool = start_pool(pool_config, name=config.pool_name, setup=setup)
    try:
        results: list[JobResult] = ray.get([pool.submit(job) for job in jobs])
    finally:
        pool.shutdown()
    if config.output:
        out = result_path(config.output)
        write_atomic(out, "".join(json.dumps(r.to_dict(), default=str) + "\n" for r in results))
        log.info("wrote %d results to %s", len(results), out)
    return results
