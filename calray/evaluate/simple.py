"""``calray.evaluate(model, capabilities=..., limit=...)``: capability scores in one call.

The notebook form of ``calray eval``: the model may be a directory, a hub id or a calray
model name, an in-memory transformers model (with its tokenizer), the result of
``calray.oneshot``, or any ``EvalModel``; with ``dense=`` the dense model is scored too and
the result carries retention (pruned / dense x100 per task, dimension and in total).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calray.evaluate.builtin.sources import LocalData
from calray.evaluate.capabilities import CapabilityMap, capability_map
from calray.evaluate.hf_model import HFModel
from calray.evaluate.interface import EvalModel
from calray.evaluate.retention import RetentionReport, retention
from calray.evaluate.runner import CapabilityScores, evaluate_capabilities


@dataclass
class Evaluation:
    """Scores of the model, and with a dense model its scores and the retention report."""

    scores: CapabilityScores
    dense: CapabilityScores | None = None
    retention: RetentionReport | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scores": self.scores.to_dict()}
        if self.dense is not None and self.retention is not None:
            out.update(dense=self.dense.to_dict(), retention=self.retention.to_dict())
        return out


def as_eval_model(model: Any, tokenizer: Any = None, **options: Any) -> EvalModel:
    """An ``EvalModel`` from a path or model name, a transformers model and its tokenizer, an
    object with ``.model`` and ``.tokenizer`` (``calray.oneshot``'s result), or an EvalModel."""
    from calray.models import resolve_model

    if isinstance(model, EvalModel):
        return model
    if isinstance(model, (str, Path)):
        return HFModel.from_pretrained(resolve_model(model), **options)
    if tokenizer is None and hasattr(model, "tokenizer"):
        model, tokenizer = model.model, model.tokenizer
    if tokenizer is None:
        raise TypeError("an in-memory model needs its tokenizer: calray.evaluate(model, tokenizer=tokenizer, ...)")
    return HFModel(model, tokenizer, **options)


def evaluate_model(
    model: Any,
    *,
    tokenizer: Any = None,
    capabilities: str | Path | CapabilityMap = "paper",
    dims: list[str] | None = None,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    dense: Any = None,
    dense_tokenizer: Any = None,
    data: LocalData | str | Path | None = None,
    seed: int = 0,
    **options: Any,
) -> Evaluation:
    """Score ``model`` on the tasks of ``capabilities`` (a map name, YAML file or map), each
    capped at ``limit`` items; with ``dense`` (any form ``model`` takes) also score it and
    report retention. ``data``: a folder laid out like the offline data kit, or a
    ``LocalData``. ``options`` go to ``HFModel`` (``batch_size``, ``device``, ``max_length``...)."""
    cmap = capability_map(capabilities).select(dims).with_overrides(limit=limit, max_new_tokens=max_new_tokens)
    local = data if isinstance(data, LocalData) or data is None else LocalData(root=Path(data))
    scores = evaluate_capabilities(as_eval_model(model, tokenizer, **options), cmap, data=local, seed=seed)
    if dense is None:
        return Evaluation(scores)
    dense_scores = evaluate_capabilities(as_eval_model(dense, dense_tokenizer, **options), cmap, data=local, seed=seed)
    return Evaluation(scores, dense_scores, retention(scores, dense_scores))
