"""Evaluation never leaks into training or calibration: by document hash, and by item."""

import pytest

from calray.toy import commonsense, programs
from calray.toy import lexicon as lx
from calray.toy.corpus import DOMAINS, world
from calray.toy.splits import normalise, split_of, text_hash
from calray.toy.tasks import TASKS, task


def hashes(docs):
    return {text_hash(d) for d in docs}


def test_split_of_ignores_case_and_spacing():
    assert normalise("A  kettle\nis  IRON. ") == "a kettle is iron."
    assert split_of("A  kettle\nis IRON.", seed=0) == split_of("a kettle is iron.", seed=0)
    shares = [split_of(f"document {i}", seed=0) for i in range(4000)]
    assert 0.86 < shares.count("train") / 4000 < 0.94
    assert 0.02 < shares.count("evaluation") / 4000 < 0.06


@pytest.mark.parametrize("domain", DOMAINS)
def test_splits_are_disjoint_by_document(domain, train_docs, calibration_docs):
    evaluation = task(f"toy:{domain}_ppl").records()
    train, calibration = hashes(train_docs[domain]), hashes(calibration_docs[domain])
    assert not hashes(evaluation) & train
    assert not hashes(evaluation) & calibration
    assert not train & calibration
    if domain in ("general", "commonsense"):
        assert all(split_of(d, seed=0) == "evaluation" for d in evaluation)
        assert all(split_of(d, seed=0) == "train" for d in train_docs[domain][:200])
    if domain == "math":  # split by question, so no rendering of a problem crosses splits
        questions = [d.split("\n")[0].removeprefix("Question: ") for d in evaluation if d.startswith("Question: ")]
        assert questions and all(split_of(q, seed=0) == "evaluation" for q in questions)
    # evaluation code is made of held-out functions instead: test_held_out_functions_are_never_trained_on


def test_no_evaluation_item_appears_in_training(train_docs, calibration_docs):
    seen = normalise(" ".join(train_docs[d][i] + " " + calibration_docs[d][i % 300] for d in DOMAINS for i in range(1500)))
    for t in TASKS:
        for r in t.records():
            if t.kind == "multiple_choice":
                assert normalise(r.query) not in seen, (t.name, r.query)
            elif t.kind == "exact_match":
                assert normalise(r.question) not in seen, r.question
            elif t.kind == "pass_at_1":
                assert normalise(r.prompt) not in seen, r.prompt


def test_held_out_commonsense_pairs_are_never_stated(train_docs):
    text = normalise(" ".join(train_docs["commonsense"] + train_docs["general"]))
    held = commonsense.held_out_pairs(0)
    assert 20 <= len(held) <= 60
    for kind, prop in held:
        k, p = lx.KIND_BY_NAME[kind], lx.PROPERTY_BY_NAME[prop]
        assert normalise(f"{commonsense.thing(k)} {p.fact}") not in text, (kind, prop)


def test_held_out_functions_are_never_trained_on(train_docs, calibration_docs):
    w = world(0)
    code = " ".join(train_docs["code"] + calibration_docs["code"])
    held_combinations = programs.held_out_combinations(0)
    assert 25 <= len(held_combinations) <= 45
    for combo in programs.COMBINATIONS:
        held = programs.split_values(w, combo.name, True)
        kept = programs.split_values(w, combo.name, False)
        assert held and not set(held) & set(kept)
        assert (combo.name in held_combinations) == (not kept)
        for value in held[:20]:
            assert programs.build(combo, value).prompt not in code
