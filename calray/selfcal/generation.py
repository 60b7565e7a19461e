"""Sampling from the model being pruned, and scoring what it wrote: shared by the three generators.

``generate_documents`` runs transformers' ``generate`` (KV cache, batched, left-padded
prompts, stops a row at EOS) with an explicit logits-processor list, in the order the
papers describe: repetition penalty, then the temperature of the current step (a schedule:
``scheduled_temperature``), then top-k, then top-p. Each batch draws from its own seeded
``torch`` generator state, so a set depends only on its config and seed.
``score_documents`` gives each document's perplexity under the same model and a pooled
hidden state (what IGSP clusters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import Field
from tqdm.auto import tqdm
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from calray.config import StrictModel


class Decoding(StrictModel):
    """One sampling recipe. Temperature follows Self-Cal's schedule (constant when
    ``t_init == t_final``); ``top_k = 0``, ``top_p = 1`` and ``repetition_penalty = 1`` are off."""

    t_init: float = Field(default=1.0, gt=0)
    t_final: float = Field(default=1.0, gt=0)
    schedule_tokens: int = Field(default=10, ge=0)
    top_k: int = Field(default=0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    repetition_penalty: float = Field(default=1.0, gt=0)


def scheduled_temperature(step: int, decoding: Decoding) -> float:
    """Self-Cal's t_i = t_init + (i / n) (t_final - t_init) for i <= n, then t_final (i = tokens generated)."""
    n = decoding.schedule_tokens
    if step >= n:
        return decoding.t_final
    return decoding.t_init + step / n * (decoding.t_final - decoding.t_init)


class ScheduledTemperature(LogitsProcessor):
    """Divides the logits of generation step i by ``scheduled_temperature(i)``."""

    def __init__(self, decoding: Decoding, prompt_length: int) -> None:
        self.decoding = decoding
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / scheduled_temperature(input_ids.shape[1] - self.prompt_length, self.decoding)


class FirstTokenAmong(LogitsProcessor):
    """Restricts the first generated token to ``allowed`` ids (Self-Cal's stop-word start)."""

    def __init__(self, allowed: Sequence[int], prompt_length: int) -> None:
        self.allowed = torch.tensor(sorted(set(allowed)), dtype=torch.long)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] != self.prompt_length:
            return scores
        keep = torch.full_like(scores, -math.inf)
        allowed = self.allowed.to(scores.device)
        keep[:, allowed] = scores[:, allowed]
        return keep


def processors(decoding: Decoding, prompt_length: int, first_tokens: Sequence[int] | None = None) -> LogitsProcessorList:
    """The processor list of one ``generate`` call, in the papers' order."""
    out: list[LogitsProcessor] = []
    if decoding.repetition_penalty != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(decoding.repetition_penalty))
    if first_tokens:
        out.append(FirstTokenAmong(first_tokens, prompt_length))
    out.append(ScheduledTemperature(decoding, prompt_length))
    if decoding.top_k:
        out.append(TopKLogitsWarper(decoding.top_k))
    if decoding.top_p < 1.0:
        out.append(TopPLogitsWarper(decoding.top_p))
    return LogitsProcessorList(out)


@dataclass(frozen=True)
class Prompt:
    """What a row is conditioned on: token ids after BOS (empty: BOS only), and a label."""

    ids: tuple[int, ...] = ()
    label: str = ""


def _left_padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids, mask


def bos_id(tokenizer: Any) -> int:
    """The id every generation starts from: BOS, else EOS (GPT-2 style tokenizers have no BOS)."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to condition generation on")
    return int(token)


@torch.no_grad()
def generate_documents(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    decoding: Decoding,
    *,
    max_new_tokens: int,
    seed: int,
    first_tokens: Sequence[int] | None = None,
) -> list[list[int]]:
    """One batch: each prompt's continuation (token ids, prompt excluded, cut before EOS)."""
    from transformers import GenerationConfig

    start = bos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, mask = _left_padded([(start, *p.ids) for p in prompts], pad)
    device = next(model.parameters()).device
    room = getattr(model.config, "max_position_embeddings", None)  # a prompt must not push a row past the context
    if isinstance(room, int) and room > ids.shape[1]:
        max_new_tokens = min(max_new_tokens, room - ids.shape[1])
    config = GenerationConfig(
        do_sample=True, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad,
        top_k=None, top_p=None, temperature=None, repetition_penalty=None,
    )
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
            logits_processor=processors(decoding, ids.shape[1], first_tokens),
        )
    docs = []
    for row in out[:, ids.shape[1]:].tolist():
        cut = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
        docs.append(row[:cut])
    return docs


@torch.no_grad()
def score_documents(
    model: Any, tokenizer: Any, documents: Sequence[Sequence[int]], *, batch_size: int = 16, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(log_ppl, features)`` of each document as the model sees it after BOS: the mean
    next-token NLL (natural log of the perplexity), ``(n,)``, and the mean of its last
    hidden state over the document's positions, ``(n, hidden)``."""
    start = bos_id(tokenizer)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    log_ppl: list[np.ndarray] = []
    features: list[np.ndarray] = []
    for first in tqdm(range(0, len(documents), batch_size), desc="scoring", unit="batch", disable=not progress):
        rows = [[start, *doc] for doc in documents[first : first + batch_size]]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False)
        logits = out.logits[:, :-1].float()  # (b, L-1, V)
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:].to(device), reduction="none")  # (b, L-1)
        targets = mask[:, 1:].to(device).float()
        log_ppl.append((nll * targets).sum(1).div(targets.sum(1).clamp(min=1)).cpu().numpy())
        hidden = out.hidden_states[-1].float()  # (b, L, hidden)
        weights = mask.to(device).float()[..., None]
        features.append(((hidden * weights).sum(1) / weights.sum(1)).cpu().numpy())
    return np.concatenate(log_ppl), np.concatenate(features)
