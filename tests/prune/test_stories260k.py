"""A real trained model: SparseGPT and Wanda keep far more than magnitude at 50%.

stories260k (a tiny Llama trained on TinyStories) is calibrated on Wikipedia text and scored
on held-out Shakespeare, both from the offline kit; skipped cleanly when ../shared is absent.
"""

from __future__ import annotations

import pytest
import torch

from calray.data import FileOrigin, Source, source_windows
from calray.prune import METHODS, Target, prune_model
from calray.prune.model_io import load_pretrained
from calray.prune.perplexity import token_perplexity
from calray.prune.text import encode, read_texts

pytestmark = [pytest.mark.shared, pytest.mark.slow]

SEQLEN = 128


@pytest.fixture(scope="module")
def pruned_results(stories260k, shared_dir):
    """Perplexity and mean layer error per method (and dense), each method from a fresh load."""
    _, tokenizer = load_pretrained(str(stories260k))
    wiki = Source(name="wiki", dimension="general", sampling="random-window",
                  files=FileOrigin(paths=(str(shared_dir / "data" / "wiki_sample" / "wiki_demo.txt"),)))
    calib = torch.from_numpy(source_windows(tokenizer, wiki, 16, seqlen=SEQLEN, seed=0, use_cache=False)).long()
    held_text = read_texts(shared_dir / "data" / "tinyshakespeare" / "input.txt")[0][:40_000]
    held = encode(tokenizer, [held_text])[: 32 * SEQLEN]

    model, _ = load_pretrained(str(stories260k))
    results = {"dense": (token_perplexity(model, held, seqlen=SEQLEN, batch_size=16)[0], 0.0)}
    for name in ("sparsegpt", "wanda", "magnitude"):
        model, _ = load_pretrained(str(stories260k))
        report = prune_model(model, calib, METHODS.get(name), Target(sparsity=0.5), batch_size=16, progress=False)
        assert report.totals()["sparsity"] == pytest.approx(0.5, abs=1e-3)
        results[name] = (token_perplexity(model, held, seqlen=SEQLEN, batch_size=16)[0], report.totals()["mean_layer_error"])
    return results


def test_sparsegpt_and_wanda_raise_perplexity_far_less_than_magnitude(pruned_results):
    dense = pruned_results["dense"][0]
    rise = {name: pruned_results[name][0] - dense for name in ("sparsegpt", "wanda", "magnitude")}
    assert rise["magnitude"] > 0
    assert rise["sparsegpt"] < 0.5 * rise["magnitude"], pruned_results
    assert rise["wanda"] < 0.6 * rise["magnitude"], pruned_results


def test_layer_errors_are_ordered_sparsegpt_wanda_magnitude(pruned_results):
    errors = [pruned_results[name][1] for name in ("sparsegpt", "wanda", "magnitude")]
    assert errors == sorted(errors), pruned_results
    assert errors[0] < 0.8 * errors[2], pruned_results
