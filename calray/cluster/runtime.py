"""Starting or joining Ray, once, with errors that say what to run when it does not work."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
        with loopback_only(local=address is None):
            ray.init(address=address, namespace=namespace, **options)
    except ConnectionError as exc:
        raise CalrayError(
            f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start --head`, check it with "
            "`ray status`, or give no address to start a local Ray in this process"
        ) from None
    resources = ray.cluster_resources()
    log.info("Ray: %s", {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")})
    return resources


@contextmanager
def loopback_only(*, local: bool) -> Iterator[None]:
    """A local Ray instance started inside the block listens on loopback only.

    By default Ray's GCS, raylet, workers and agents listen on all interfaces, reachable from
    the network, though a local sweep needs none of that. Ray's documented switch
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (single-machine Ray, as on macOS) makes the node's
    address 127.0.0.1, and every process then binds there; Ray reads it once at import, so the
    value it read is set for the start alone. Joining a cluster (``local=False``) is untouched:
    there the node must be reachable by the others (see README, "On a Ray cluster").
    """
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    if local:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def require_resources(
    *, cpus: float = 0.0, gpus: float = 0.0, what: str = "the pool", fix: str = "lower pipelines, stages or cpus_per_shard"
) -> None:
    """Fail now, with the numbers and ``fix``, rather than wait forever for resources the cluster lacks."""
    have = ray.cluster_resources()
    if have.get("CPU", 0.0) + 1e-9 < cpus or have.get("GPU", 0.0) + 1e-9 < gpus:
        raise CalrayError(
            f"{what} needs {cpus:g} CPUs and {gpus:g} GPUs, but the Ray cluster has {have.get('CPU', 0):g} CPUs and "
            f"{have.get('GPU', 0):g} GPUs (see `ray status`); {fix}, or add nodes"
        )
