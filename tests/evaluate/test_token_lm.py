"""The model interface on real (tiny) models: batching changes nothing, windows cover every
token once, generation stops at stop strings, and the cache-free fallback matches HF generate."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calray.evaluate import GenerationArgs, HFModel, rolling_windows
from calray.evaluate.shared_prefix import PrefixBatch, group_by_context
from calray.evaluate.token_lm import TokenLM
from calray.tiny import tiny_model, tiny_tokenizer

REQUESTS = [
    ("The cat sat on the", " mat"),
    ("The cat sat on the", " hat and then slept"),
    ("Once upon a time ", "there was a dog"),  # trailing space moves to the continuation
    ("", "Hello world"),  # empty context: conditioned on the prefix token
    ("A much longer context with many more characters in it than the others, to force padding:", " yes"),
    ("Q: 2+2?\nA:", " 4"),
]


def test_batched_equals_one_by_one(tiny_lm: HFModel) -> None:
    one = HFModel(tiny_lm.model, tiny_lm.tokenizer, batch_size=1, progress=False)
    batched, single = tiny_lm.loglikelihood(REQUESTS), one.loglikelihood(REQUESTS)
    for b, s in zip(batched, single, strict=True):
        assert b.logprob == pytest.approx(s.logprob, abs=1e-4)
        assert b.is_greedy == s.is_greedy


def test_loglikelihood_matches_a_direct_forward(tiny_lm: HFModel) -> None:
    tok = tiny_lm.tokenizer
    ctx, cont = "The cat sat on the", " mat"
    ids = [tok.bos_token_id, *tok(ctx + cont, add_special_tokens=False)["input_ids"]]
    n_cont = len(tok(cont, add_special_tokens=False)["input_ids"])  # byte-level: splits cleanly
    with torch.no_grad():
        logp = tiny_lm.model(torch.tensor([ids])).logits[0].log_softmax(-1)
    expected = sum(logp[i - 1, ids[i]].item() for i in range(len(ids) - n_cont, len(ids)))
    (got,) = tiny_lm.loglikelihood([(ctx, cont)])
    assert got.logprob == pytest.approx(expected, abs=1e-4)


def test_logits_only_where_continuations_are_predicted_score_the_same(tiny_lm: HFModel) -> None:
    full = TokenLM._score  # the base class's: logits at every position
    ids = torch.randint(0, 256, (3, 20))
    queries = [(0, 20, [5, 6, 7]), (1, 12, [9]), (2, 17, [1, 2]), (0, 9, [4])]
    ours = tiny_lm._score(ids, queries)
    for a, b in zip(ours, full(tiny_lm, ids, queries), strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-5) and a.is_greedy == b.is_greedy


def test_identical_inputs_share_one_forward_row(tiny_lm: HFModel) -> None:
    rows: list[int] = []

    class Counting(HFModel):
        def _score(self, input_ids, queries):  # type: ignore[no-untyped-def]
            rows.append(input_ids.shape[0])
            return super()._score(input_ids, queries)

    lm = Counting(tiny_lm.model, tiny_lm.tokenizer, batch_size=64, progress=False)
    # MMLU-like: one context, four one-token answers -> identical model inputs
    out = lm.loglikelihood([("Question?\nAnswer:", f" {c}") for c in "ABCD"])
    assert sum(rows) == 1 and len(out) == 4
    assert len({r.logprob for r in out}) == 4


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), max_length=st.integers(1, 12), context_len=st.integers(1, 12))
def test_rolling_windows_predict_every_token_once(n: int, max_length: int, context_len: int) -> None:
    context_len = min(context_len, max_length)
    tokens = list(range(100, 100 + n))
    windows = list(rolling_windows(tokens, prefix_token=-1, max_length=max_length, context_len=context_len))
    predicted = [t for _, cont in windows for t in cont]
    assert predicted == tokens
    for ctx, cont in windows:
        assert len(ctx + cont) - 1 <= max_length  # the model input fits
        assert ctx  # every prediction is conditioned on something


def test_rolling_equals_full_sequence_score_when_it_fits(stories_lm: HFModel) -> None:
    text = "Once upon a time, there was a little girl named Lily. She liked to play outside."
    (rolled,) = stories_lm.loglikelihood_rolling([text])
    ids = stories_lm.encode([text])[0]
    (direct,) = stories_lm.score_tokens([([stories_lm.prefix_token_id], ids)])
    assert rolled.tokens == len(ids)
    assert rolled.logprob == pytest.approx(direct.logprob, abs=1e-4)
    short = HFModel(stories_lm.model, stories_lm.tokenizer, max_length=8, progress=False)
    (windowed,) = short.loglikelihood_rolling([text])
    assert windowed.tokens == len(ids) and windowed.logprob < rolled.logprob  # less context, worse


def test_generation_is_batched_greedy_and_stops(stories_lm: HFModel) -> None:
    args = GenerationArgs(until=(".",), max_new_tokens=40)
    reqs = [("Once upon a time", args), ("Lily and Tom", args), ("One day", GenerationArgs(max_new_tokens=5))]
    batched = stories_lm.generate_until(reqs)
    single = HFModel(stories_lm.model, stories_lm.tokenizer, batch_size=1, progress=False).generate_until(reqs)
    assert batched == single
    assert all("." not in out for out in batched[:2]) and batched[0]


def test_cache_free_fallback_generates_like_hf(stories_lm: HFModel) -> None:
    class Fallback(TokenLM):  # what a sharded model gets without writing its own _greedy
        def __init__(self, lm: HFModel) -> None:
            self.lm, self.tokenizer, self.max_length, self.batch_size, self.add_bos = (
                lm,
                lm.tokenizer,
                lm.max_length,
                4,
                lm.add_bos,
            )

        def _logits(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return self.lm._logits(input_ids, attention_mask)

    reqs = [("Once upon a time", GenerationArgs(until=("park",), max_new_tokens=24)), ("Tom", GenerationArgs(max_new_tokens=12))]
    assert Fallback(stories_lm).generate_until(reqs) == stories_lm.generate_until(reqs)


def test_other_architectures_run() -> None:
    for arch in ("gpt2", "qwen2"):
        lm = HFModel(tiny_model(arch), tiny_tokenizer(), batch_size=2, progress=False)
        assert len(lm.loglikelihood(REQUESTS)) == len(REQUESTS)
        assert len(lm.generate_until([("abc", GenerationArgs(max_new_tokens=3))])[0]) >= 0


# Items sharing a context, with continuations of one and several tokens, and contexts of
# different lengths in one batch (the padded cache positions must be masked out).
SHARED = [
    ("Question: which one is heavy?\nAnswer:", f" {c}")
    for c in ("a rock", "a feather", "x", "a very long answer with many more tokens than the rest")
] + [("Pick:", " left"), ("Pick:", " right"), ("Pick:", " left"), ("Lone context", " alone"), ("", "Hello world")]


@pytest.mark.parametrize("arch", ["llama", "gpt2", "opt", "gpt_neox", "mistral", "qwen3"])
def test_a_shared_context_run_once_scores_as_the_plain_path(arch: str) -> None:
    model, tok = tiny_model(arch), tiny_tokenizer()
    plain = HFModel(model, tok, batch_size=2, progress=False, share_prefixes=False).loglikelihood(SHARED)
    prefixed: list[int] = []

    class Counting(HFModel):
        def _score_prefixed(self, batch):  # type: ignore[no-untyped-def]
            prefixed.append(len(batch.prefixes))
            return super()._score_prefixed(batch)

    for batch_size in (1, 3, "auto"):
        prefixed.clear()
        shared = Counting(model, tok, batch_size=batch_size, progress=False).loglikelihood(SHARED)
        assert sum(prefixed) == 2  # the two contexts with several continuations, each run once
        for a, b in zip(shared, plain, strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy


@pytest.mark.parametrize("arch", ["gemma2", "mistral"])
def test_a_sliding_window_keeps_the_plain_path(arch: str) -> None:
    lm = HFModel(tiny_model(arch, sliding_window=8), tiny_tokenizer(), batch_size=3, progress=False)
    assert not lm.share_prefixes  # a window over padded cache positions would see other tokens
    plain = HFModel(lm.model, lm.tokenizer, batch_size=3, progress=False, share_prefixes=False)
    for a, b in zip(lm.loglikelihood(SHARED), plain.loglikelihood(SHARED), strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_only_contexts_with_several_distinct_inputs_are_shared() -> None:
    requests = [([1, 2], [3]), ([1, 2], [4]), ([5], [6, 7]), ([5], [6, 8]), ([5], [9]), ([9] * 8, [1, 2]), ([9] * 8, [1, 3])]
    groups, rest = group_by_context(requests, max_length=8)
    assert [(g.prefix, g.members) for g in groups] == [((5,), (2, 3, 4))]  # [6,7] and [6,8] feed the same [6]; [9] feeds []
    assert rest == [0, 1, 5, 6]  # one-token answers share their input anyway; the last context is truncated
    batch = PrefixBatch.of(groups, requests)
    assert batch.suffixes == [(0, (6,))] and [q[1] for q in batch.queries] == [0, 0, None]
