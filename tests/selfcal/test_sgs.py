"""SGS: continuations of seed-corpus prefixes, the highest-perplexity fifth dropped."""

from __future__ import annotations

import numpy as np

from calray.selfcal import Budget, SGSConfig, drop_highest, generate_sgs


def test_the_filter_drops_exactly_the_top_fifth():
    values = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.5])
    assert drop_highest(values, 0.2).tolist() == [0, 1, 3, 4, 5, 7, 8, 9]  # 9.0 and 8.0 dropped, order kept
    assert len(drop_highest(np.arange(32.0), 0.2)) == 32 - 6
    assert drop_highest(values, 0.0).tolist() == list(range(10))


def test_sgs_keeps_the_lower_perplexity_samples_and_starts_them_with_corpus_prefixes(toy):
    model, tok = toy
    config = SGSConfig(seed_source="toy:encyclopedia", prefix_tokens=6, budget=Budget(batch_size=10, max_new_tokens=16))
    made = generate_sgs(model, tok, config, nsamples=1, seqlen=32, seed=0, progress=False)
    s = made.summary
    assert s["dropped"] == round(0.2 * s["samples"]) and s["kept"] == len(made.records) == s["samples"] - s["dropped"]
    assert all(r["perplexity"] <= s["perplexity_threshold"] for r in made.records)
    assert made.sampling == "random-window" and made.join_with is not None
    assert all(r["prompt"].startswith("toy:encyclopedia#") for r in made.records)
    assert sum(r["tokens"] + 1 for r in made.records) >= 32
