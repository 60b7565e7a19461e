"""Can the cluster host the pool a sweep asks for? Answered before anything starts.

Node types come from a cluster-launcher file (``cluster.yaml``: each type's resources and
``max_workers``, what the autoscaler may add) or from the running Ray cluster's nodes. A
pipeline's shards should share one node (activations move between stages through shared
memory), so a pipeline of S stages on GPUs needs a node type with S GPUs; and the pool's
P pipelines must fit in the cluster at its largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from calray.config import read_yaml_mapping
from calray.errors import CalrayError

if TYPE_CHECKING:
    from calray.cluster import PoolConfig


@dataclass(frozen=True)
class NodeType:
    name: str
    cpus: float
    gpus: float
    count: int  # how many such nodes the cluster can have at most


def node_types_from_yaml(path: str | Path) -> list[NodeType]:
    """The head and worker types of a Ray cluster-launcher file, with their largest counts."""
    config = read_yaml_mapping(path, "cluster file")
    types = config.get("available_node_types")
    if not isinstance(types, dict) or not types:
        raise CalrayError(f"cluster file {str(path)!r} has no available_node_types; is it a Ray cluster-launcher config?")
    head = config.get("head_node_type")
    out = []
    for name, node_type in types.items():
        resources = node_type.get("resources") or {}
        count = 1 if name == head else int(node_type.get("max_workers", config.get("max_workers", 0)))
        out.append(NodeType(name, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)), count))
    return out


def node_types_from_ray() -> list[NodeType]:
    """The live nodes of the connected Ray cluster, one type each."""
    import ray

    return [
        NodeType(node.get("NodeManagerAddress", "node"), float(node["Resources"].get("CPU", 0)),
                 float(node["Resources"].get("GPU", 0)), 1)
        for node in ray.nodes() if node.get("Alive")
    ]


def check_pool_fits(pool: PoolConfig, nodes: list[NodeType], *, where: str) -> None:
    """Raise a CalrayError when ``pool`` (a PoolConfig) can never be placed on ``nodes``."""
    gpu = pool.device == "cuda" or (pool.device == "auto" and any(n.gpus > 0 for n in nodes))
    need_cpu = pool.cpus_per_shard * pool.stages
    if gpu:
        if not any(n.gpus > 0 for n in nodes):
            raise CalrayError(f"the pool asks for GPUs (device {pool.device!r}) but no node type of {where} has one; "
                              "use device: cpu or add GPU workers")
        fits = [n for n in nodes if n.gpus >= pool.stages and n.cpus >= need_cpu]
        if not fits:
            most = max(n.gpus for n in nodes)
            raise CalrayError(
                f"a pipeline of {pool.stages} stages needs {pool.stages} GPUs (and {need_cpu:g} CPUs) on one node, but the "
                f"largest node type of {where} has {most:g} GPUs; lower pool.stages to {int(most)} or "
                "less, or add a larger node type"
            )
        capacity = sum(n.count * min(int(n.gpus // pool.stages), int(n.cpus // need_cpu) if need_cpu else 1 << 30) for n in fits)
    else:
        fits = [n for n in nodes if n.cpus >= need_cpu]
        if not fits:
            most = max((n.cpus for n in nodes), default=0)
            raise CalrayError(
                f"a pipeline of {pool.stages} stages x {pool.cpus_per_shard:g} CPUs needs {need_cpu:g} CPUs on one node, but "
                f"the largest node of {where} has {most:g}; lower pool.stages or pool.cpus_per_shard"
            )
        capacity = sum(n.count * int(n.cpus // need_cpu) for n in fits)
    if capacity < pool.pipelines:
        raise CalrayError(
            f"the pool asks for {pool.pipelines} pipelines but {where} can hold at most {capacity}; lower pool.pipelines "
            "(check the cluster with `ray status`)"
        )
