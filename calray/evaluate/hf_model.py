"""``EvalModel`` for an in-process transformers causal LM and its tokenizer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from calray.errors import CalrayError
from calray.evaluate.interface import GenerationArgs
from calray.evaluate.token_lm import TokenLM

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


class HFModel(TokenLM):
    """Batched log-likelihood, rolling log-likelihood and greedy generation for a transformers
    causal LM, as lm-evaluation-harness's ``HFLM`` computes them.

    >>> lm = HFModel.from_pretrained("path/to/model", batch_size=8)  # doctest: +SKIP
    >>> lm.loglikelihood([("The capital of France is", " Paris")])  # doctest: +SKIP

    ``add_bos`` (default: whether the tokenizer adds BOS on its own) prepends BOS to every
    context; ``context_len`` is the rolling-window overlap (1 = lm-eval's disjoint windows).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        add_bos: bool | None = None,
        context_len: int = 1,
        progress: bool | None = None,
    ) -> None:
        super().__init__(tokenizer, max_length=max_length or model_max_length(model, tokenizer), batch_size=batch_size,
                         add_bos=add_bos, context_len=context_len, progress=progress)
        self.model = model.eval()
        if device is not None:
            self.model.to(device)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, dtype: str | torch.dtype | None = None, device: str | None = None, **kwargs: Any
    ) -> HFModel:
        """Load a model directory (weights + tokenizer) and wrap it."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise CalrayError(f"model directory {str(path)!r} has no config.json; pass a transformers model directory")
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or "auto")
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, device=device, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        mask = attention_mask.to(self.device) if attention_mask is not None else None
        return self.model(input_ids=input_ids.to(self.device), attention_mask=mask, use_cache=False).logits

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        from transformers import GenerationConfig

        config = GenerationConfig(
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            stop_strings=list(args.until) or None,
        )
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            generation_config=config,
            tokenizer=self.tokenizer,
        )
        return [row[input_ids.shape[1] :].tolist() for row in out]
