"""IGSP: the greedy selection lowers 4-gram aggregation and balances perplexity across dimensions."""

from __future__ import annotations

from collections import Counter

import numpy as np

from calray.selfcal import Budget, IGSPConfig, assign_dimensions, generate_igsp, perplexity_spread, select_balanced, seq_rep


def pooled_seq_rep(docs, n=4):
    grams = Counter(tuple(d[i : i + n]) for d in docs for i in range(len(d) - n + 1))
    return 1 - len(grams) / sum(grams.values())


def synthetic_pool(seed=0):
    """Three dimensions of 30 documents; a third of each repeats one phrase; perplexities differ by dimension."""
    rng = np.random.default_rng(seed)
    docs, labels, log_ppl = [], [], []
    for k, level in enumerate((0.5, 1.0, 1.5)):
        phrase = rng.integers(0, 50, size=12).tolist()
        for i in range(30):
            docs.append(phrase * 2 if i % 3 == 0 else rng.integers(0, 500, size=24).tolist())
            labels.append(k)
            log_ppl.append(level + rng.normal(0, 0.4))
    return docs, np.array(log_ppl), np.array(labels)


def test_selection_lowers_seq_rep_4_and_the_perplexity_spread_with_equal_budgets():
    docs, log_ppl, labels = synthetic_pool()
    sel = select_balanced(docs, log_ppl, labels, budget_tokens=600, ngram=4, balance_weight=1.0)
    picked = [docs[i] for i in sel.indices]
    assert seq_rep(docs, 4) == pooled_seq_rep(docs)
    assert pooled_seq_rep(picked) < 0.5 * pooled_seq_rep(docs)
    mask = np.zeros(len(docs), dtype=bool)
    mask[sel.indices] = True
    assert perplexity_spread(log_ppl[mask], labels[mask]) < 0.5 * perplexity_spread(log_ppl, labels)
    tokens = Counter()
    for i in sel.indices:
        tokens[int(labels[i])] += len(docs[i]) + 1
    assert sum(tokens.values()) >= 600 and max(tokens.values()) - min(tokens.values()) <= 25  # one document apart
    # the objective is the selection's seq-rep-4 plus the weighted imbalance it reports
    assert abs(sel.objective - (pooled_seq_rep(picked) + sel.imbalance)) < 1e-9


def test_balance_weight_zero_ignores_perplexity():
    docs, log_ppl, labels = synthetic_pool(1)
    plain = select_balanced(docs, log_ppl, labels, budget_tokens=600, balance_weight=0.0)
    weighted = select_balanced(docs, log_ppl, labels, budget_tokens=600, balance_weight=5.0)
    spread = [perplexity_spread(log_ppl[s.indices], labels[s.indices]) for s in (plain, weighted)]
    assert spread[1] < spread[0]


def test_dimensions_are_clusters_of_the_features():
    rng = np.random.default_rng(0)
    centers = np.eye(3) * 10
    features = np.concatenate([c + rng.normal(0, 0.1, size=(20, 3)) for c in centers])
    labels = assign_dimensions(features, 3, seed=0)
    assert [len(set(labels[i * 20 : (i + 1) * 20])) for i in range(3)] == [1, 1, 1]
    assert labels[0] == 0 and len(set(labels)) == 3


def test_igsp_on_the_toy_model_reports_a_selection_better_than_its_pool(toy):
    model, tok = toy
    config = IGSPConfig(prompts=("", "Q:", "def"), decodings=IGSPConfig().decodings[:2], dimensions=2,
                        budget=Budget(batch_size=12, max_new_tokens=24))
    made = generate_igsp(model, tok, config, nsamples=2, seqlen=48, seed=0, progress=False)
    s = made.summary
    assert s["seq_rep_4"]["selected"] < s["seq_rep_4"]["pool"]
    assert s["perplexity_spread"]["selected"] < s["perplexity_spread"]["pool"]
    assert s["selected_documents"] == len(made.records) < s["pool_documents"]
    assert {r["dimension"] for r in made.records} == {"d0", "d1"}
    assert s["tokens"] >= 2 * 48
