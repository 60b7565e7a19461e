"""Run lm-evaluation-harness tasks on any calray ``EvalModel`` (optional extra ``lmeval``).

``CalrayLM(model)`` is an lm-eval ``LM``: lm-eval builds the prompts and computes the metrics,
calray's model (in-process or sharded) answers the requests, batched. Generation is greedy
only; a request asking for sampling is refused rather than silently answered greedily.

>>> import lm_eval  # doctest: +SKIP
>>> lm_eval.simple_evaluate(model=CalrayLM(HFModel.from_pretrained(path)), tasks=["arc_easy"])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from calray.errors import CalrayError
from calray.evaluate.interface import EvalModel, GenerationArgs

try:
    from lm_eval.api.model import LM
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("calray.evaluate.lmeval_adapter needs lm-eval: pip install 'calray[lmeval]'") from exc

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HFLM default


def _generation_args(kwargs: dict[str, Any]) -> GenerationArgs:
    if kwargs.get("do_sample") or float(kwargs.get("temperature") or 0.0) > 0.0:
        raise CalrayError(f"calray generates greedily; this task asks for sampling ({kwargs}); set do_sample: false")
    until = kwargs.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    return GenerationArgs(until=tuple(until), max_new_tokens=int(kwargs.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS))


class CalrayLM(LM):
    """An lm-eval ``LM`` whose requests are answered by a calray ``EvalModel``."""

    def __init__(self, model: EvalModel) -> None:
        super().__init__()
        self.model = model

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return [(r.logprob, r.is_greedy) for r in self.model.loglikelihood([tuple(req.args) for req in requests])]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        return [r.logprob for r in self.model.loglikelihood_rolling([req.args[0] for req in requests])]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        return self.model.generate_until([(req.args[0], _generation_args(dict(req.args[1]))) for req in requests])
