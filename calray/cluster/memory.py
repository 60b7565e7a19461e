"""How much memory a job needs on a shard, and how much the shard has: checked before a job
is accepted, so a job that does not fit is refused or delayed instead of crashing the actor.

The estimate is deliberately simple and on the safe side: one pruned copy of the shard's
blocks, the calibration activations entering and leaving the shard (kept on the host), the
largest block's input Hessians, and one mini-batch of working activations (with eager
attention's (batch, heads, seq, seq) scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from calray.cluster.loading import ShardModel
from calray.prune import find_linears
from calray.prune.linears import in_features

GiB = float(1 << 30)


@dataclass(frozen=True)
class Footprint:
    """Bytes a job holds on a shard: on its device and on the host (the same pool on a CPU shard)."""

    copy: int  # the pruned copy of the shard's blocks (device)
    activations: int  # calibration hidden states in and out (host)
    statistics: int  # one block's Hessians (device)
    working: int  # one mini-batch through one block (device)

    def device_bytes(self) -> int:
        return self.copy + self.statistics + self.working

    def describe(self) -> str:
        return (
            f"pruned copy {self.copy / GiB:.2f} GiB, activations {self.activations / GiB:.2f} GiB, "
            f"Hessians {self.statistics / GiB:.2f} GiB, working {self.working / GiB:.2f} GiB"
        )


def estimate(shard: ShardModel, *, nsamples: int, seqlen: int, batch_size: int, sequential: bool) -> Footprint:
    """The footprint of one job on ``shard`` (independent mode needs no activations)."""
    config = shard.model.config.get_text_config()
    hidden = int(config.hidden_size)
    inner = int(
        next((getattr(config, a) for a in ("intermediate_size", "ffn_dim", "n_inner") if getattr(config, a, None)), 4 * hidden)
    )
    heads = int(getattr(config, "num_attention_heads", 1) or 1)
    itemsize = next(shard.blocks[0].parameters()).element_size()
    hessians = max(
        sum(in_features(m) ** 2 * 4 for m in find_linears(block, prefix="").values()) for block in shard.blocks
    )
    batch = min(batch_size, nsamples)
    working = batch * seqlen * (4 * hidden + 2 * inner) * 4 + batch * heads * seqlen * seqlen * 4
    activations = 2 * nsamples * seqlen * hidden * itemsize if sequential else 0
    return Footprint(copy=shard.parameter_bytes(), activations=activations, statistics=hessians, working=working)


def free_bytes(device: torch.device) -> int:
    """Free memory of a CUDA device, or the host's available memory for the CPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil  # shipped inside Ray's wheel (ray/thirdparty_files), on sys.path once ray is imported

    return int(psutil.virtual_memory().available)
