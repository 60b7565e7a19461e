"""Generation stops through ``StopChecker`` (token ids and a decoded tail) exactly where full
decoding at every step would: the toy world's generation tasks give the same outputs as the
old paths (transformers' ``stop_strings`` for ``HFModel``, a full decode per row per step for
the cache-free ``TokenLM`` loop a pipeline uses)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import calray.toy
from calray.evaluate import GenerationArgs, HFModel, TokenLM, get_task
from calray.evaluate.stopping import StopChecker
from calray.tiny import tiny_tokenizer

TOK = tiny_tokenizer()


def first_stop_by_full_decoding(tokens: list[int], until: tuple[str, ...], eos: int) -> int | None:
    """The old rule: after each token, decode everything so far and look for a stop string."""
    for step in range(len(tokens)):
        text = TOK.decode(tokens[: step + 1], skip_special_tokens=True)
        if tokens[step] == eos or any(s and s in text for s in until):
            return step
    return None


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(alphabet="ab\n#:é ", max_size=40),
    until=st.lists(st.sampled_from(["\n\n", "#", "b:", "é\n", "aaa", "ab ab"]), max_size=3).map(tuple),
)
def test_the_checker_stops_exactly_where_full_decoding_would(text: str, until: tuple[str, ...]) -> None:
    tokens = TOK(text, add_special_tokens=False)["input_ids"]  # multi-byte é spans two tokens
    checker = StopChecker(TOK, until, eos_token_id=TOK.eos_token_id, rows=1)
    steps = [checker.step([t])[0] for t in tokens]
    stop = first_stop_by_full_decoding(tokens, until, TOK.eos_token_id)
    assert steps == [stop is not None and i >= stop for i in range(len(tokens))]
    assert checker.tokens[0] == tokens[: stop + 1 if stop is not None else len(tokens)]


def test_rows_stop_independently_and_eos_is_a_token_id() -> None:
    checker = StopChecker(TOK, ("##",), eos_token_id=TOK.eos_token_id, rows=3)
    a, b, hash_ = TOK.convert_tokens_to_ids(["a", "b", "#"])
    assert checker.step([a, TOK.eos_token_id, hash_]) == [False, True, False]
    assert checker.step([b, a, hash_]) == [False, True, True]  # a finished row ignores later tokens
    assert checker.tokens == [[a, b], [TOK.eos_token_id], [hash_, hash_]]


class StopStringsHF(HFModel):
    """``HFModel`` as it generated before: transformers' ``stop_strings`` criterion."""

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        from transformers import GenerationConfig

        config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=False, eos_token_id=self.eos_token_id,
                                  pad_token_id=self.pad_token_id, stop_strings=list(args.until) or None)
        out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                                  tokenizer=self.tokenizer)
        return [row[input_ids.shape[1] :].tolist() for row in out]


class CacheFree(TokenLM):
    """The cache-free loop a pipeline inherits, over an in-process model."""

    def __init__(self, lm: HFModel, *, full_decode: bool) -> None:
        super().__init__(lm.tokenizer, max_length=lm.max_length, batch_size=8, progress=False)
        self.lm, self.full_decode = lm, full_decode

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return self.lm._logits(input_ids, attention_mask)

    def _greedy(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, args: GenerationArgs) -> list[list[int]]:
        if not self.full_decode:
            return super()._greedy(input_ids, attention_mask, args)
        ids, mask = input_ids, attention_mask  # the loop as it was: every row decoded whole at every step
        done = [False] * ids.shape[0]
        new: list[list[int]] = [[] for _ in range(ids.shape[0])]
        for _ in range(args.max_new_tokens):
            nxt = self._next_tokens(ids, mask)
            for row in range(ids.shape[0]):
                if not done[row]:
                    new[row].append(int(nxt[row]))
                    text = self.tokenizer.decode(new[row], skip_special_tokens=True)
                    done[row] = int(nxt[row]) == self.eos_token_id or any(s and s in text for s in args.until)
            if all(done):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(nxt[:, None])], dim=1)
        return new


@pytest.fixture(scope="module")
def toy_requests() -> list[tuple[str, GenerationArgs]]:
    """Prompts of the toy world's generation tasks (math exact match, code pass@1), as scored."""
    requests: list[tuple[str, GenerationArgs]] = []
    for name in ("toy:gsm", "toy:humaneval"):
        task: Any = get_task(name)
        items, pool, chosen = task.select(None, 12, 0)
        args = GenerationArgs(until=task.until, max_new_tokens=48)
        requests += [(task.prompt(i, items, pool, task.num_fewshot, 0), args) for i in chosen]
    return requests


@pytest.fixture(scope="module")
def toy_lm() -> HFModel:
    return HFModel.from_pretrained(calray.toy.MODEL_DIR, batch_size=8, progress=False)


def test_toy_generation_equals_the_stop_strings_path(toy_lm: HFModel, toy_requests: list) -> None:
    old = StopStringsHF(toy_lm.model, toy_lm.tokenizer, batch_size=8, progress=False).generate_until(toy_requests)
    new = toy_lm.generate_until(toy_requests)
    assert new == old
    assert sum(bool(o) for o in new) > len(new) // 2  # the model answers: the comparison is not vacuous


def test_toy_generation_of_the_cache_free_loop_equals_full_decoding(toy_lm: HFModel, toy_requests: list) -> None:
    requests = toy_requests[::3]  # the cache-free loop re-runs every prefix: a few prompts suffice
    old = CacheFree(toy_lm, full_decode=True).generate_until(requests)
    assert CacheFree(toy_lm, full_decode=False).generate_until(requests) == old


def test_auto_batch_size_generates_the_same(toy_lm: HFModel, toy_requests: list) -> None:
    auto = HFModel(toy_lm.model, toy_lm.tokenizer, batch_size="auto", progress=False)
    assert auto._row_bytes(100, "generate", 48) is not None
    assert auto.generate_until(toy_requests[:6]) == toy_lm.generate_until(toy_requests[:6])
