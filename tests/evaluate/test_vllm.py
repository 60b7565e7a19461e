"""The vLLM backend: a one-line error without vLLM; calray's adapter reads vLLM's outputs at the
right positions (checked against an engine that answers in vLLM's format from the toy model);
and, where vLLM is installed, the real engine agrees with the HF backend on the toy tasks."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import calray.toy
from calray.cli import main
from calray.evaluate import GenerationArgs, HFModel, get_task
from calray.evaluate.vllm_model import VLLMModel

MULTIPLE_CHOICE = ("toy:knowledge", "toy:piqa", "toy:arc")


def test_backend_vllm_without_vllm_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # what `import vllm` sees where it is not installed
    assert main(["eval", "--model", "toy", "--capabilities", "toy", "--limit", "1", "--backend", "vllm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'calray[vllm]'" in err, err


class EngineLike:
    """Answers ``generate`` as vLLM's ``LLM`` does (``prompt_logprobs``: None, then per prompt token a
    dict token -> Logprob holding that token and the most likely one; greedy ``token_ids``
    ending at EOS), computed by an HF model one prompt at a time."""

    def __init__(self, lm: HFModel) -> None:
        self.lm = lm

    def generate(self, prompts: list[dict[str, list[int]]], params: Any, use_tqdm: bool = False) -> list[Any]:
        return [self._one(p["prompt_token_ids"], params) for p in prompts]

    @torch.no_grad()
    def _one(self, ids: list[int], params: Any) -> Any:
        model = self.lm.model
        if getattr(params, "prompt_logprobs", None):
            logp = model(torch.tensor([ids])).logits[0].log_softmax(-1)
            steps: list[Any] = [None]
            for i in range(1, len(ids)):
                top = int(logp[i - 1].argmax())
                steps.append({t: SimpleNamespace(logprob=float(logp[i - 1, t])) for t in (ids[i], top)})
            return SimpleNamespace(prompt_logprobs=steps, outputs=[SimpleNamespace(token_ids=[])])
        out = model.generate(torch.tensor([ids]), max_new_tokens=params.max_tokens, do_sample=False,
                             eos_token_id=self.lm.eos_token_id, pad_token_id=self.lm.pad_token_id)
        return SimpleNamespace(prompt_logprobs=None, outputs=[SimpleNamespace(token_ids=out[0, len(ids):].tolist())])


@pytest.fixture(scope="module")
def toy_hf() -> HFModel:
    return HFModel.from_pretrained(calray.toy.MODEL_DIR, batch_size=16, progress=False)


def test_the_adapter_reads_vllm_outputs_where_the_tokens_are(toy_hf: HFModel, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("vllm")
    fake.SamplingParams = SimpleNamespace  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    lm = VLLMModel(EngineLike(toy_hf), toy_hf.tokenizer, max_length=toy_hf.max_length)
    requests = [(c, t) for name in MULTIPLE_CHOICE for c, t in _mc_requests(name, 6)]
    requests += [("Question: what is 2+2?\nAnswer: four.\n" * 40, " four")]  # longer than the window: truncated
    assert sum(len(t) for t in lm.encode_pairs(requests[-1:])[0]) > lm.max_length + 1
    for ours, hf in zip(lm.loglikelihood(requests), toy_hf.loglikelihood(requests), strict=True):
        assert ours.logprob == pytest.approx(hf.logprob, abs=1e-3) and ours.is_greedy == hf.is_greedy
    (text,) = [t for t, _ in _mc_requests("toy:knowledge", 1)][:1]
    rolled, hf_rolled = lm.loglikelihood_rolling([text * 20]), toy_hf.loglikelihood_rolling([text * 20])
    assert rolled[0].logprob == pytest.approx(hf_rolled[0].logprob, rel=1e-4)
    gen = _gen_requests(6)
    assert lm.generate_until(gen) == toy_hf.generate_until(gen)


def _mc_requests(name: str, n: int) -> list[tuple[str, str]]:
    task: Any = get_task(name)
    items, _, chosen = task.select(None, n, 0)
    return [r for i in chosen for r in task.requests("", items[i])]


def _gen_requests(n: int) -> list[tuple[str, GenerationArgs]]:
    task: Any = get_task("toy:gsm")
    items, pool, chosen = task.select(None, n, 0)
    args = GenerationArgs(until=task.until, max_new_tokens=40)
    return [(task.prompt(i, items, pool, task.num_fewshot, 0), args) for i in chosen]


def test_vllm_agrees_with_the_hf_backend_on_the_toy_tasks(toy_hf: HFModel) -> None:
    pytest.importorskip("vllm")
    lm = VLLMModel.from_pretrained(calray.toy.MODEL_DIR, dtype="float32")
    requests = [r for name in MULTIPLE_CHOICE for r in _mc_requests(name, 20)]
    for ours, hf in zip(lm.loglikelihood(requests), toy_hf.loglikelihood(requests), strict=True):
        assert ours.logprob == pytest.approx(hf.logprob, rel=1e-3, abs=1e-3)
    for name in MULTIPLE_CHOICE:
        task = get_task(name)
        assert task.evaluate(lm, limit=40).metrics == task.evaluate(toy_hf, limit=40).metrics
    gen = _gen_requests(20)
    same = sum(a == b for a, b in zip(lm.generate_until(gen), toy_hf.generate_until(gen), strict=True))
    assert same >= len(gen) - 1  # greedy decoding may part on a near-tie under other kernels
