"""Starting or joining Ray, once, with errors that say what to run when it does not work."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from calray.errors import CalrayError

log = logging.getLogger(__name__)


def init_ray(address: str | None = None, *, namespace: str | None = None, **options: Any) -> dict[str, float]:
    """Join the Ray cluster at ``address`` (``"auto"``: the running one; None: ``$RAY_ADDRESS``,
    else a new local instance), or do nothing if this process is already connected.
    Returns the cluster's resources. ``options`` go to ``ray.init`` (e.g. ``num_cpus``)."""
    if ray.is_initialized():
        return ray.cluster_resources()
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, namespace=namespace, **options)
    except ConnectionError as exc:
        raise CalrayError(
            f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start --head`, check it with "
            "`ray status`, or give no address to start a local Ray in this process"
        ) from None
    resources = ray.cluster_resources()
    log.info("Ray: %s", {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")})
    return resources


def require_resources(*, cpus: float = 0.0, gpus: float = 0.0, what: str = "the pool") -> None:
    """Fail now, with the numbers, rather than wait forever for resources the cluster lacks."""
    have = ray.cluster_resources()
    if have.get("CPU", 0.0) + 1e-9 < cpus or have.get("GPU", 0.0) + 1e-9 < gpus:
        raise CalrayError(
            f"{what} needs {cpus:g} CPUs and {gpus:g} GPUs, but the Ray cluster has {have.get('CPU', 0):g} CPUs and "
            f"{have.get('GPU', 0):g} GPUs (see `ray status`); lower pipelines, stages or cpus_per_shard, or add nodes"
        )
