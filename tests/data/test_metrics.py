from __future__ import annotations

import gzip
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from calray.data import (
    gzip_ratio,
    information_metrics,
    ngram_diversity,
    repetition,
    seq_rep_n,
    type_token_ratio,
    unigram_entropy,
    vocab_coverage,
    window_mean_perplexity,
    zipf_coefficient,
)
from calray.tiny import tiny_model

# Two windows of four tokens. By hand:
#   repeats (token seen earlier in its window): [1,2,1,2] -> 2, [3,3,3,4] -> 2; R = 4/8
#   unigrams 8, distinct {1,2,3,4}: 4;  bigrams 6, distinct {12,21,33,34}: 4
#   trigrams 4, distinct 4;  4-grams 2, distinct 2
#   counts 1:2 2:2 3:3 4:1
IDS = torch.tensor([[1, 2, 1, 2], [3, 3, 3, 4]])


def test_counting_metrics_match_hand_computation():
    assert repetition(IDS) == 0.5
    assert seq_rep_n(IDS, 1) == 0.5
    assert seq_rep_n(IDS, 2) == pytest.approx(1 - 4 / 6)
    assert seq_rep_n(IDS, 3) == 0.0 and seq_rep_n(IDS, 4) == 0.0
    assert ngram_diversity(IDS) == pytest.approx((4 / 8 + 4 / 6 + 4 / 4 + 2 / 2) / 4)
    assert vocab_coverage(IDS, 10) == 0.4
    assert type_token_ratio(IDS) == 0.5
    p = np.array([2, 2, 3, 1]) / 8
    assert unigram_entropy(IDS) == pytest.approx(-(p * np.log(p)).sum())
    assert unigram_entropy(IDS) == pytest.approx(2 * 0.25 * math.log(4) + 0.375 * math.log(8 / 3) + 0.125 * math.log(8))


def test_ngrams_never_cross_from_one_window_into_the_next():
    ids = np.array([[1, 2], [1, 2]])
    assert seq_rep_n(ids, 2) == 0.5  # (1,2) twice; the (2,1) across the boundary is not an n-gram
    assert repetition(ids) == 0.0  # repetition is within a window
    assert math.isnan(seq_rep_n(ids, 3))


def test_zipf_coefficient_is_the_positive_slope_of_log_frequency_on_log_rank():
    assert zipf_coefficient(IDS) == pytest.approx(-np.polyfit(np.log([1, 2, 3, 4]), np.log([3, 2, 2, 1]), 1)[0])
    tokens = np.concatenate([np.full(round(6000 / r), r) for r in range(1, 41)])  # frequency ~ 1/rank
    assert zipf_coefficient(tokens.reshape(1, -1)) == pytest.approx(1.0, abs=0.01)
    assert math.isnan(zipf_coefficient(np.zeros((2, 3), dtype=int)))


def test_gzip_ratio_is_raw_over_compressed_bytes():
    texts = ["abc" * 50, "abc" * 50]
    raw = ("abc" * 50 + "\n" + "abc" * 50).encode()
    assert gzip_ratio(texts) == len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))
    varied = [" ".join(str(i * 7919 % 10007) for i in range(60))]
    assert gzip_ratio(texts) > 5 > gzip_ratio(varied)


class UniformLM(torch.nn.Module):
    """Equal logits for every token: perplexity is exactly the vocabulary size."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, use_cache: bool = False) -> SimpleNamespace:
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    assert window_mean_perplexity(UniformLM(50), torch.randint(0, 50, (3, 9)), progress=False) == pytest.approx(50.0)


def test_perplexity_averages_each_windows_exp_mean_nll_over_uneven_batches():
    model = tiny_model("llama")
    ids = torch.randint(0, 256, (5, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = np.mean([math.exp(model(ids[i : i + 1], labels=ids[i : i + 1]).loss.item()) for i in range(5)])
    assert window_mean_perplexity(model, ids, batch_size=2, progress=False) == pytest.approx(expected, rel=1e-5)


def test_information_metrics_reports_everything_it_can(tok):
    ids = torch.tensor([list(b"the cat sat on the mat"), list(b"a dog sat on a log....")])
    full = information_metrics(ids, tokenizer=tok, model=tiny_model("llama"), progress=False)
    assert list(full) == [
        "perplexity",
        "repetition",
        "seq_rep_1",
        "seq_rep_2",
        "seq_rep_3",
        "seq_rep_4",
        "ngram_diversity",
        "vocab_coverage",
        "unigram_entropy",
        "type_token_ratio",
        "zipf_coefficient",
        "gzip_ratio",
    ]
    assert all(isinstance(v, float) for v in full.values())
    assert full["vocab_coverage"] == len(set(ids.flatten().tolist())) / len(tok)
    bare = information_metrics(ids)
    assert "perplexity" not in bare and "gzip_ratio" not in bare and "vocab_coverage" not in bare
