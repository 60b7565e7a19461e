"""Sampling shared by the generators: Self-Cal's temperature schedule, the stop-word start, EOS."""

from __future__ import annotations

import pytest
import torch

from calray.selfcal import Decoding, generate_documents, scheduled_temperature, stopword_ids
from calray.selfcal.generation import FirstTokenAmong, Prompt, ScheduledTemperature, processors


def test_temperature_schedule_is_linear_for_n_tokens_then_final():
    d = Decoding(t_init=2.0, t_final=1.0, schedule_tokens=10)
    assert [scheduled_temperature(i, d) for i in (0, 5, 9, 10, 11, 500)] == pytest.approx([2.0, 1.5, 1.1, 1.0, 1.0, 1.0])
    assert scheduled_temperature(3, Decoding(t_init=0.6, t_final=0.6)) == 0.6
    assert scheduled_temperature(0, Decoding(t_init=1.5, t_final=0.5, schedule_tokens=0)) == 0.5


def test_the_processor_divides_by_the_temperature_of_the_current_step():
    d = Decoding(t_init=3.0, t_final=1.0, schedule_tokens=2)
    proc = ScheduledTemperature(d, prompt_length=4)
    scores = torch.ones(1, 5) * 6.0
    assert torch.allclose(proc(torch.zeros(1, 4, dtype=torch.long), scores), torch.full((1, 5), 2.0))  # step 0: t = 3
    assert torch.allclose(proc(torch.zeros(1, 5, dtype=torch.long), scores), torch.full((1, 5), 3.0))  # step 1: t = 2
    assert torch.allclose(proc(torch.zeros(1, 9, dtype=torch.long), scores), scores)  # after n: t_final


def test_processors_follow_the_papers_order():
    kinds = [type(p).__name__ for p in processors(Decoding(t_init=0.6, t_final=0.6, top_k=50, top_p=0.95,
                                                           repetition_penalty=1.2), 1, [3])]
    assert kinds == ["RepetitionPenaltyLogitsProcessor", "FirstTokenAmong", "ScheduledTemperature",
                     "TopKLogitsWarper", "TopPLogitsWarper"]
    assert [type(p).__name__ for p in processors(Decoding(), 1)] == ["ScheduledTemperature"]


def test_first_token_restriction_applies_to_the_first_step_only():
    proc = FirstTokenAmong([1, 3], prompt_length=2)
    scores = torch.zeros(2, 5)
    first = proc(torch.zeros(2, 2, dtype=torch.long), scores)
    assert torch.isfinite(first).tolist() == [[False, True, False, True, False]] * 2
    assert torch.equal(proc(torch.zeros(2, 3, dtype=torch.long), scores), scores)


def test_generation_is_seeded_stops_at_eos_and_honours_the_stop_word_start(toy):
    model, tok = toy
    allowed = stopword_ids(tok, ["the", "a"])
    args = dict(max_new_tokens=12, seed=7, first_tokens=allowed)
    rows = generate_documents(model, tok, [Prompt()] * 4, Decoding(), **args)
    assert rows == generate_documents(model, tok, [Prompt()] * 4, Decoding(), **args)
    assert rows != generate_documents(model, tok, [Prompt()] * 4, Decoding(), **{**args, "seed": 8})
    assert all(0 < len(r) <= 12 and tok.eos_token_id not in r for r in rows)
    assert all(r[0] in allowed for r in rows)
    # Toy documents are short ("Question: How old is X?" ...): EOS ends a row before the limit.
    short = generate_documents(model, tok, [Prompt()] * 4, Decoding(t_init=0.5, t_final=0.5), max_new_tokens=64, seed=0)
    assert min(len(r) for r in short) < 64


def test_selfcal_builds_on_prune_data_and_evaluate_only():
    from tests.cluster.test_layering import PACKAGE, imported_modules

    found = imported_modules(PACKAGE / "selfcal")
    assert not any(m.startswith(("ray", "mlflow", "calray.cluster", "calray.sweep", "calray.cli")) for m in found)
