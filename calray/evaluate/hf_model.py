"""``EvalModel`` for an in-process transformers causal LM and its tokenizer."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from calray.errors import CalrayError
from calray.evaluate.interface import GenerationArgs, LoglikelihoodResult
from calray.evaluate.shared_prefix import PrefixBatch, score_prefixed
from calray.evaluate.stopping import StopCriteria
from calray.evaluate.token_lm import (
    AUTO_FALLBACK,
    AUTO_MAX_ROWS,
    MEMORY_HEADROOM,
    BatchSize,
    ContinuationQuery,
    RequestKind,
    TokenLM,
    query_positions,
    score_continuations,
)

log = logging.getLogger(__name__)

# Rolling windows longer than this cost memory without changing the study's comparisons;
# Llama-3.1 reports 131072 positions, which lm-eval would use as one window (an OOM).
DEFAULT_MAX_LENGTH_CAP = 4096


def model_max_length(model: Any, tokenizer: Any, *, cap: int = DEFAULT_MAX_LENGTH_CAP) -> int:
    """The model's context length from its config (else the tokenizer), capped at ``cap``."""
    return config_max_length(model.config, tokenizer, cap=cap)


def config_max_length(config: Any, tokenizer: Any, *, cap: int = DEFAULT_MAX_LENGTH_CAP) -> int:
    """``model_max_length`` from a config alone (a sharded model has no whole model object)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return min(value, cap)
    value = getattr(tokenizer, "model_max_length", None)
    if isinstance(value, int) and 0 < value < 10**9:
        return min(value, cap)
    return min(2048, cap)


def _slides(config: Any, max_length: int) -> bool:
    """Whether some layer attends through a sliding window shorter than a shared-context batch
    can be (a padded context and its continuations: up to 2 x ``max_length`` cache positions).
    Such a window counts cache positions, not a row's own tokens, and its cache drops the
    oldest ones, so a padded row would see a different window than the plain path gives it."""
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    sliding = any("sliding" in t for t in layer_types) if layer_types else getattr(config, "use_sliding_window", True)
    return bool(sliding and window and window < 2 * max_length)


class _ForwardParams(NamedTuple):
    """What the model's forward takes: ``logits_to_keep``, and the name of its KV cache
    argument (``cache`` since transformers 5.2x, ``past_key_values`` in 5.17)."""

    keeps_logits: bool
    cache: str


class HFModel(TokenLM):
    """Batched log-likelihood, rolling log-likelihood and greedy generation for a transformers
    causal LM, as lm-evaluation-harness's ``HFLM`` computes them.

    >>> lm = HFModel.from_pretrained("path/to/model", batch_size=8)  # doctest: +SKIP
    >>> lm.loglikelihood([("The capital of France is", " Paris")])  # doctest: +SKIP

    ``add_bos`` (default: whether the tokenizer adds BOS on its own) prepends BOS to every
    context; ``context_len`` is the rolling-window overlap (1 = lm-eval's disjoint windows).
    ``batch_size="auto"`` sizes batches from the device's free memory. ``static_cache=True``
    generates with a static KV cache, which transformers compiles on CUDA for models that
    support it (worth it for long generations on one model; each batch shape compiles once).
    ``share_prefixes`` (default on): a context shared by several continuations (a
    multiple-choice stem with its few-shot examples) runs once and its KV cache serves each
    continuation; False feeds context + continuation once per request. Models whose sliding
    attention window could end inside a padded cache row always take the plain path.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: BatchSize = 16,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        add_bos: bool | None = None,
        context_len: int = 1,
        progress: bool | None = None,
        static_cache: bool = False,
        share_prefixes: bool = True,
    ) -> None:
        super().__init__(tokenizer, max_length=max_length or model_max_length(model, tokenizer), batch_size=batch_size,
                         add_bos=add_bos, context_len=context_len, progress=progress)
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.static_cache = static_cache
        self.share_prefixes = share_prefixes and not _slides(model.config, self.max_length)
        if static_cache and not getattr(model, "_can_compile_fullgraph", False):
            log.warning("%s does not support a static cache; generating with the dynamic one", type(model).__name__)
            self.static_cache = False

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, dtype: str | torch.dtype | None = None, device: str | None = None, **kwargs: Any
    ) -> HFModel:
        """Load a model directory (weights + tokenizer) and wrap it."""
        from transformers import AutoTokenizer

        from calray.prune.model_io import load_causal_lm, torch_dtype

        path = Path(path)
        if not path.is_dir():
            raise CalrayError(f"model directory {str(path)!r} does not exist; pass a transformers model directory")
        model = load_causal_lm(str(path), dtype=torch_dtype(dtype) if isinstance(dtype, str) else dtype or "auto")
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, device=device, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        mask = attention_mask.to(self.device) if attention_mask is not None else None
        return self.model(input_ids=input_ids.to(self.device), attention_mask=mask, use_cache=False).logits

    def _score(self, input_ids: torch.Tensor, queries: Sequence[ContinuationQuery]) -> list[LoglikelihoodResult]:
        """The head runs only at the positions some continuation is predicted from: for a
        few-shot multiple-choice batch most positions are context, and with a 128k vocabulary
        the head costs as much as several decoder layers per position."""
        if not self._keeps_logits:
            return super()._score(input_ids, queries)
        positions = query_positions(queries)
        keep = torch.tensor(positions, device=self.device)
        logits = self.model(input_ids=input_ids.to(self.device), use_cache=False, logits_to_keep=keep).logits
        return score_continuations(logits, queries, positions)

    def _score_prefixed(self, batch: PrefixBatch) -> list[LoglikelihoodResult]:
        """Right-padded contexts run with a KV cache (logits at each one's last position only);
        the cache is copied to one row per suffix, and the suffixes run after it with the
        padding masked out and positions continuing from their own context's length."""
        lengths = torch.tensor([len(p) for p in batch.prefixes])
        width = int(lengths.max())
        ids = torch.full((len(batch.prefixes), width), self.pad_token_id, dtype=torch.long)
        for row, prefix in enumerate(batch.prefixes):
            ids[row, : len(prefix)] = torch.tensor(prefix)
        rows = torch.arange(len(batch.prefixes))
        kwargs: dict[str, Any] = {}
        if self._keeps_logits:  # the head only at the last positions
            positions = sorted(set((lengths - 1).tolist()))
            kwargs["logits_to_keep"] = torch.tensor(positions, device=self.device)
            cols = torch.tensor([positions.index(n - 1) for n in lengths.tolist()])
        else:
            cols = lengths - 1
        out = self.model(input_ids=ids.to(self.device), use_cache=bool(batch.suffixes), **kwargs)
        last = out.logits[rows.to(self.device), cols.to(self.device)]  # (G, V)
        if not batch.suffixes:
            return score_prefixed(last, None, batch)
        owner = torch.tensor([row for row, _ in batch.suffixes])
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values  # 5.2x / 5.17
        cache.reorder_cache(owner.to(self.device))  # one copy of its context's keys and values per suffix
        fed = max(len(s) for _, s in batch.suffixes)
        sfx = torch.full((len(batch.suffixes), fed), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch.suffixes), width + fed), dtype=torch.long)
        mask[:, width:] = 1
        for r, (row, tokens) in enumerate(batch.suffixes):
            sfx[r, : len(tokens)] = torch.tensor(tokens)
            mask[r, : len(batch.prefixes[row])] = 1
        position_ids = lengths[owner][:, None] + torch.arange(fed)
        logits = self.model(
            input_ids=sfx.to(self.device), attention_mask=mask.to(self.device), position_ids=position_ids.to(self.device),
            use_cache=True, **{self._forward_params.cache: cache},
        ).logits
        return score_prefixed(last, logits, batch)

    @property
    def _keeps_logits(self) -> bool:
        """Whether the model's forward takes ``logits_to_keep`` as positions (transformers 5's causal LMs)."""
        return self._forward_params.keeps_logits

    @functools.cached_property
    def _forward_params(self) -> _ForwardParams:
        import inspect

        params = inspect.signature(self.model.forward).parameters
        return _ForwardParams("logits_to_keep" in params, "cache" if "cache" in params else "past_key_values")

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        """transformers' ``generate`` (KV cache, greedy) with calray's stop criterion: EOS and
        stop strings checked on token ids and a short decoded tail (``StopChecker``)."""
        from transformers import GenerationConfig, StoppingCriteriaList

        config = GenerationConfig(
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            cache_implementation="static" if self.static_cache else None,
        )
        checker = self.stop_checker(args, rows=input_ids.shape[0])
        criterion = StopCriteria(checker, input_ids.shape[1])
        self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([criterion]),
        )
        return checker.tokens

    # --- memory, for batch_size="auto" ---------------------------------------------------------
    def _memory_budget(self) -> int | None:
        device = self.device
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            return int(free * MEMORY_HEADROOM)
        if device.type == "cpu":
            try:
                import os

                return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * MEMORY_HEADROOM)
            except (ValueError, OSError, AttributeError):
                return None
        return None

    def _max_rows(self) -> int:
        return AUTO_MAX_ROWS if self.device.type != "cpu" else AUTO_FALLBACK

    def _row_bytes(self, width: int, kind: RequestKind, new_tokens: int = 0, copies: int = 1) -> int | None:
        itemsize = next(self.model.parameters()).element_size()
        return row_bytes(self.model.config, itemsize, width, kind, new_tokens, copies)


def row_bytes(config: Any, itemsize: int, width: int, kind: RequestKind, new_tokens: int = 0, copies: int = 1, *,
              layers: int | None = None) -> int | None:
    """Memory of one batch row of a model with ``config`` (parameters of ``itemsize`` bytes;
    ``layers`` of its decoder layers, default all), or None when the config does not say its
    width. Counted: the KV cache of every token (generation; a shared context's and its
    ``copies`` copies, each fed ``new_tokens``), the widest activations of one block (the
    MLP's, a few copies) and the logits (every position when scoring in the model's dtype plus
    a float32 copy of the continuation's; the last position only when generating; a shared
    context's last one and its suffixes'), with 2x slack for the allocator and attention's
    temporaries."""
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not hidden:
        return None
    inter = int(getattr(config, "intermediate_size", None) or getattr(config, "ffn_dim", None) or 4 * hidden)
    if layers is None:
        layers = int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or 1)
    heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None) or 1)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    vocab = int(getattr(config, "vocab_size", None) or 0)
    kv_token = 2 * layers * kv_heads * head_dim * itemsize
    per_token = (4 * hidden + 3 * inter) * itemsize
    if kind == "prefix":
        fed = copies * new_tokens
        kv = kv_token * (width * (1 + copies) + fed)
        return int(2 * (kv + (width + fed) * per_token + (1 + fed) * vocab * (itemsize + 4)))
    tokens = width + new_tokens
    logits = (width * vocab * (itemsize + 4)) if kind == "score" else vocab * 4 * 2
    return int(2 * (kv_token * tokens * (kind == "generate") + tokens * per_token + logits))
