"""Pruning engine (pure torch): block adapters, statistics and the layer-by-layer driver."""

from calray.prune.adapters import ADAPTERS, BlockAdapter, adapter_for, call_block, check_supported
from calray.prune.block_args import BlockArgs

__all__ = ["ADAPTERS", "BlockAdapter", "BlockArgs", "adapter_for", "call_block", "check_supported"]
