"""The evaluation model interface over a pipeline: tasks score a job's pruned model where it lies.

``PipelineLM`` is a ``TokenLM``: tokenisation, batching, rolling windows and few-shot prompts
are calray.evaluate's own. Each batch goes through the pipeline's stages as one chain of
actor calls (token ids in, hidden states from stage to stage), and the last stage reduces
what it sends back to what the request needs:

- log-likelihood requests: one (log-prob, greedy) pair per continuation (``_score``);
- greedy generation: one next token per row per step (``_next_tokens``), each stage keeping a
  KV cache of its blocks for the batch, so a step sends one token per row through the stages;
- only ``_logits`` (kept for completeness) ships full (B, T, V) logits, which for a 128k
  vocabulary and long inputs would be large: nothing in the built-in tasks calls it.

``batch_size="auto"`` sizes each batch from the stages' free memory (the tightest stage's)
and a row's cost on the stage with the most blocks, hidden states in and out included.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import ray
import torch

from calray.cluster.pipeline import Pipeline
from calray.evaluate import (
    ContinuationQuery,
    GenerationArgs,
    LoglikelihoodResult,
    TokenLM,
    config_max_length,
)
from calray.evaluate.hf_model import row_bytes
from calray.evaluate.token_lm import AUTO_FALLBACK, AUTO_MAX_ROWS, MEMORY_HEADROOM, BatchSize, RequestKind


class PipelineLM(TokenLM):
    """A job's pruned model (``job_id``), or the dense model (None), evaluated through ``pipeline``.

    >>> lm = PipelineLM(pipeline, "job-1", tokenizer, config=config)  # doctest: +SKIP
    >>> evaluate_capabilities(lm, capability_map("paper"))           # doctest: +SKIP
    """

    def __init__(
        self,
        pipeline: Pipeline,
        job_id: str | None,
        tokenizer: Any,
        *,
        config: Any,
        batch_size: BatchSize = 16,
        max_length: int | None = None,
        add_bos: bool | None = None,
        context_len: int = 1,
    ) -> None:
        super().__init__(tokenizer, max_length=max_length or config_max_length(config, tokenizer), batch_size=batch_size,
                         add_bos=add_bos, context_len=context_len, progress=False)
        self.pipeline = pipeline
        self.job_id = job_id
        self.config = config
        self._stages: list[dict[str, Any]] = []  # the stages' memory, as last asked (batch_size="auto")
        self._session: str | None = None  # the generation in progress, whose KV caches the stages hold
        self._fed = 0  # tokens of the current generation the stages have seen

    # --- memory, for batch_size="auto" ---------------------------------------------------------
    def _memory_budget(self) -> int | None:
        self._stages = self.pipeline.memory()  # free memory changes as jobs come and go: asked per plan
        return int(min(stage["free"] for stage in self._stages) * MEMORY_HEADROOM)

    def _max_rows(self) -> int:
        on_gpu = any(stage["device"] == "cuda" for stage in self._stages or self.pipeline.memory())
        return AUTO_MAX_ROWS if on_gpu else AUTO_FALLBACK

    def _row_bytes(self, width: int, kind: RequestKind, new_tokens: int = 0, copies: int = 1) -> int | None:
        widest = max(self._stages or self.pipeline.memory(), key=lambda stage: stage["blocks"])
        itemsize = widest["itemsize"]
        own = row_bytes(self.config, itemsize, width, kind, new_tokens, copies, layers=widest["blocks"])
        hidden = getattr(self.config, "hidden_size", None) or getattr(self.config, "n_embd", None)
        if own is None or not hidden:
            return None
        return own + 2 * (width + new_tokens) * int(hidden) * itemsize  # hidden states in and out of the stage

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return ray.get(self.pipeline.forward(self.job_id, input_ids, attention_mask))

    def _score(self, input_ids: torch.Tensor, queries: Sequence[ContinuationQuery]) -> list[LoglikelihoodResult]:
        return ray.get(self.pipeline.forward(self.job_id, input_ids, None, ("score", list(queries))))

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        """TokenLM's greedy loop, with the stages keeping a KV cache for the batch meanwhile."""
        self._session, self._fed = uuid.uuid4().hex, 0
        try:
            return super()._greedy(input_ids, attention_mask, args)
        finally:
            self.pipeline.end_session(self._session)
            self._session = None

    def _next_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Only the tokens the stages' caches have not seen travel (the prompt, then one per step)."""
        if self._session is None:
            return ray.get(self.pipeline.forward(self.job_id, input_ids, attention_mask, ("next", None)))
        if input_ids.shape[1] <= self._fed:
            raise RuntimeError("the greedy loop shortened its prefix; a cached session cannot follow")
        new, self._fed = input_ids[:, self._fed :], input_ids.shape[1]
        return ray.get(self.pipeline.forward(self.job_id, new, attention_mask, ("next", None), self._session))
