"""``EvalModel`` on vLLM (``pip install calray[vllm]``): GPU clusters' throughput, calray's task code.

``VLLMModel`` is a ``TokenLM``: tokenisation, the context/continuation split, rolling windows,
deduplication and stop-string cutting are calray's own, so its scores are computed on exactly
the token sequences ``HFModel`` scores. vLLM replaces only the model calls:

- log-likelihood: each (context + continuation) runs as a prompt with ``prompt_logprobs=1``,
  which returns every prompt token's log-probability and the most likely token at each
  position (the greedy flag), as lm-evaluation-harness's vLLM backend reads them;
- greedy generation: ``temperature=0`` with the request's stop strings; the returned token ids
  are decoded and cut by calray, as for ``HFModel``.

vLLM batches continuously and caches shared prefixes (few-shot contexts) on its own, so every
request of a call goes to it at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from calray.errors import CalrayError
from calray.evaluate.hf_model import DEFAULT_MAX_LENGTH_CAP, config_max_length
from calray.evaluate.interface import GenerationArgs, LoglikelihoodResult
from calray.evaluate.token_lm import ContinuationQuery, RequestKind, TokenLM

MISSING = "the vllm backend needs vLLM, which is not installed: pip install 'calray[vllm]' (on a machine with a GPU)"


def import_vllm() -> Any:
    """The ``vllm`` module, or a one-line ``CalrayError`` saying how to install it."""
    try:
        import vllm
    except ImportError:
        raise CalrayError(MISSING) from None
    return vllm


class VLLMModel(TokenLM):
    """A ``vllm.LLM`` and its tokenizer behind calray's evaluation interface.

    >>> lm = VLLMModel.from_pretrained("path/to/model", dtype="bfloat16")  # doctest: +SKIP
    >>> lm.loglikelihood([("The capital of France is", " Paris")])  # doctest: +SKIP
    """

    def __init__(self, llm: Any, tokenizer: Any, *, max_length: int, add_bos: bool | None = None, context_len: int = 1,
                 progress: bool | None = None) -> None:
        super().__init__(tokenizer, max_length=max_length, add_bos=add_bos, context_len=context_len, progress=progress)
        self.llm = llm
        self.vllm = import_vllm()

    @classmethod
    def from_pretrained(cls, path: str | Path, *, dtype: str | None = None, max_length: int | None = None,
                        seed: int = 0, **kwargs: Any) -> VLLMModel:
        """Load a model directory into vLLM (prefix caching on) with its tokenizer. The context
        length is the model's, capped as ``HFModel`` caps it, so both score the same windows."""
        from transformers import AutoConfig, AutoTokenizer

        vllm = import_vllm()
        path = Path(path)
        if not (path / "config.json").is_file():
            raise CalrayError(f"model directory {str(path)!r} has no config.json; pass a transformers model directory")
        tokenizer = AutoTokenizer.from_pretrained(path)
        max_length = max_length or config_max_length(AutoConfig.from_pretrained(path), tokenizer, cap=DEFAULT_MAX_LENGTH_CAP)
        # vLLM needs room for one generated token after the longest scored prompt (max_length + 1 tokens)
        llm = vllm.LLM(model=str(path), dtype=dtype or "auto", seed=seed, max_model_len=max_length + 1,
                       enable_prefix_caching=True)
        return cls(llm, tokenizer, max_length=max_length, **kwargs)

    def _plan(self, order: Sequence[int], widths: Sequence[int] | Mapping[int, int], kind: RequestKind,
              new_tokens: int = 0, copies: int = 1) -> Iterator[list[int]]:
        """One batch: vLLM schedules the requests itself."""
        yield list(order)

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError("vLLM returns log-probabilities, not logits; _score and _greedy use them")

    def _score(self, input_ids: torch.Tensor, queries: Sequence[ContinuationQuery]) -> list[LoglikelihoodResult]:
        """Each query's row up to its end plus the continuation's last token is one prompt; the
        continuation's tokens are its last ``len(continuation)`` prompt tokens."""
        prompts = [{"prompt_token_ids": input_ids[row, :end].tolist() + [cont[-1]]} for row, end, cont in queries]
        params = self.vllm.SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1, detokenize=False)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        out = []
        for (_, end, cont), output in zip(queries, outputs, strict=True):
            steps = output.prompt_logprobs[end + 1 - len(cont) : end + 1]  # dicts: token id -> Logprob
            logprob = sum(step[token].logprob for token, step in zip(cont, steps, strict=True))
            greedy = all(_top(step) == token for token, step in zip(cont, steps, strict=True))
            out.append(LoglikelihoodResult(float(logprob), greedy))
        return out

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        """Left-padded prompts, their padding dropped, decoded greedily by vLLM up to a stop string or EOS."""
        prompts = [{"prompt_token_ids": ids[mask.bool()].tolist()} for ids, mask in zip(input_ids, attention_mask, strict=True)]
        params = self.vllm.SamplingParams(temperature=0.0, max_tokens=args.max_new_tokens, stop=list(args.until) or None)
        return [list(output.outputs[0].token_ids) for output in self.llm.generate(prompts, params, use_tqdm=False)]


def _top(step: Mapping[int, Any]) -> int:
    """The most likely token of one position's ``prompt_logprobs`` entry (token id -> Logprob)."""
    return max(step.items(), key=lambda item: item[1].logprob)[0]
