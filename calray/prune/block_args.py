"""The keyword arguments a model passes to one decoder block, built without the model's forward.

Public pruners often capture the first block's inputs by running the model and catching an
exception; that breaks once a process holds only a slice of the model, and it is where rotary
embeddings, position ids or the causal mask get lost (eager attention with a None mask is
silently bidirectional). ``BlockArgs`` rebuilds them the way the model's own ``forward`` does:
the mask from ``transformers.masking_utils`` (the sliding-window variant where the config says
so, per block), rotary ``position_embeddings`` from the model's ``rotary_emb``, position ids, and
no cache. It holds only the config and the small rotary module, so it pickles cheaply to a
shard that owns a contiguous range of blocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

BlockArgsFn = Callable[[torch.Tensor, int], dict[str, Any]]

# transformers renamed the mask builders' cache argument from ``past_key_values`` (5.17, the
# version llm-compressor 0.14 pins) to ``cache`` (5.2x); read the installed name once.
_MASK_CACHE_ARG = "cache" if "cache" in inspect.signature(create_causal_mask).parameters else "past_key_values"


def _build_mask(kind: str, **kwargs: Any) -> Any:
    """The model's own mask for a ``kind`` of block (full or sliding attention); ``cache`` is
    passed under the installed transformers' name for it."""
    make = create_sliding_window_causal_mask if kind == "sliding_attention" else create_causal_mask
    kwargs[_MASK_CACHE_ARG] = kwargs.pop("cache")
    return make(**kwargs)

# Names transformers blocks use for the key/value cache argument, newest first.
_CACHE_ARGS = ("cache", "past_key_values", "layer_past")


@dataclass
class BlockArgs:
    """Callable ``(hidden, index) -> kwargs`` for decoder block ``index`` of one model.

    ``hidden`` is the block's input (batch, seq, hidden); only its shape, dtype and device are
    read. Masks and rotary tables are cached per shape, since calibration batches repeat them.
    """

    config: PretrainedConfig
    # Parameter names of the block's forward: which cache argument it takes, and use_cache.
    block_params: frozenset[str]
    rotary_emb: nn.Module | None = None
    # OPT passes position ids of shape (batch, seq) (a cumulative sum over its padding mask);
    # the others pass (1, seq).
    batch_position_ids: bool = False
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_block(cls, config: PretrainedConfig, block: nn.Module, **options: Any) -> BlockArgs:
        params = frozenset(inspect.signature(block.forward).parameters)
        return cls(config=config, block_params=params, **options)

    def layer_type(self, index: int) -> str:
        """``"full_attention"`` or ``"sliding_attention"``, as the model chooses the mask of block ``index``."""
        layer_types = getattr(self.config, "layer_types", None)
        if layer_types is not None:
            return str(layer_types[index])
        # Mistral has no layer_types: a sliding window, when set, applies to every block.
        return "sliding_attention" if getattr(self.config, "sliding_window", None) else "full_attention"

    def __call__(self, hidden: torch.Tensor, index: int) -> dict[str, Any]:
        batch, seq = hidden.shape[:2]
        position_ids = self._memo(
            ("pos", batch, seq, hidden.device), lambda: self._position_ids(batch, seq, hidden.device)
        )
        kind = self.layer_type(index)
        mask = self._memo(
            ("mask", kind, batch, seq, hidden.dtype, hidden.device), lambda: self._mask(kind, hidden, position_ids)
        )
        rotary = None
        if self.rotary_emb is not None:
            rotary = self._memo(
                ("rope", batch, seq, hidden.dtype, hidden.device), lambda: self._rotary(hidden, position_ids)
            )
        return self._kwargs(mask, position_ids, rotary)

    def padded(self, attention_mask: torch.Tensor) -> BlockArgsFn:
        """The builder for one left-padded batch: ``attention_mask`` (batch, seq) is 1 on real tokens.

        Positions count real tokens only (``cumsum - 1``, padding at 0), as ``generate`` numbers
        a left-padded prompt, and the mask hides the padding from every query. Calibration
        windows have no padding; evaluation batches of different lengths do. The masks are
        built once per layer type for the whole batch, so a shard calls this once per forward.
        """
        position_ids = padded_position_ids(attention_mask)  # (batch, seq)
        memo: dict[tuple[Any, ...], dict[str, Any]] = {}

        def block_args(hidden: torch.Tensor, index: int) -> dict[str, Any]:
            kind = self.layer_type(index)
            key = (kind, hidden.dtype, hidden.device)
            if key not in memo:
                positions = position_ids.to(hidden.device)
                mask = self._mask(kind, hidden, positions, attention_mask.to(hidden.device))
                rotary = self._rotary(hidden, positions) if self.rotary_emb is not None else None
                memo[key] = self._kwargs(mask, positions, rotary)
            return memo[key]

        return block_args

    def cached(self, attention_mask: torch.Tensor, cache: Any) -> BlockArgsFn:
        """The builder for one step of cached greedy decoding: ``hidden`` holds the newest
        tokens only, ``attention_mask`` (batch, past + new) covers every token so far, and
        each block reads and extends ``cache`` (a transformers ``DynamicCache``). Masks are
        sized against the block's own cache layer, so a shard that does not hold block 0
        (whose cache layer stays empty there) still sees the right past length.
        """
        positions_all = padded_position_ids(attention_mask)  # (batch, past + new)
        memo: dict[tuple[Any, ...], dict[str, Any]] = {}

        def block_args(hidden: torch.Tensor, index: int) -> dict[str, Any]:
            kind = self.layer_type(index)
            key = (kind, hidden.dtype, hidden.device)
            if key not in memo:  # built before the step's first block of this kind extends its cache
                positions = positions_all[:, -hidden.shape[1] :].to(hidden.device)
                mask = _build_mask(kind, config=self.config, inputs_embeds=hidden, cache=cache, position_ids=positions,
                                   attention_mask=attention_mask.to(hidden.device), layer_idx=index)
                rotary = self._rotary(hidden, positions) if self.rotary_emb is not None else None
                memo[key] = self._kwargs(mask, positions, rotary, cache=cache)
            return memo[key]

        return block_args

    def _kwargs(self, mask: Any, position_ids: torch.Tensor, rotary: Any, *, cache: Any = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"attention_mask": mask, "position_ids": position_ids}
        if rotary is not None:
            kwargs["position_embeddings"] = rotary
        cache_arg = next((name for name in _CACHE_ARGS if name in self.block_params), None)
        if cache_arg is not None:
            kwargs[cache_arg] = cache
        if "use_cache" in self.block_params:
            kwargs["use_cache"] = cache is not None
        return kwargs

    def _memo(self, key: tuple[Any, ...], make: Any) -> Any:
        if key not in self._cache:
            if len(self._cache) > 16:  # shapes change rarely (the last, shorter batch); bound the cache
                self._cache.clear()
            self._cache[key] = make()
        return self._cache[key]

    def _position_ids(self, batch: int, seq: int, device: torch.device) -> torch.Tensor:
        position_ids = torch.arange(seq, device=device).unsqueeze(0)  # (1, seq)
        return position_ids.expand(batch, seq).contiguous() if self.batch_position_ids else position_ids

    def _mask(
        self, kind: str, hidden: torch.Tensor, position_ids: torch.Tensor, padding: torch.Tensor | None = None
    ) -> Any:
        # None only where the model itself would pass None (sdpa's is_causal fast path, no padding).
        return _build_mask(
            kind, config=self.config, inputs_embeds=hidden, attention_mask=padding, cache=None, position_ids=position_ids
        )

    def _rotary(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.rotary_emb is not None
        with torch.no_grad():
            cos, sin = self.rotary_emb(hidden, position_ids)  # each (1, seq, rotary_dim)
        return cos, sin

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # device tensors stay behind when shipped to another process
        return state


def padded_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions of a left-padded batch (batch, seq): real tokens count from 0, padding gets 0."""
    mask = attention_mask.long()
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
