"""The toy world's sources in the calibration registry: all load, tagged as calray.toy tags them."""

from __future__ import annotations

import numpy as np
import pytest

import calray.toy
from calray.data import get_source, load_tokenizer, select_sources, source_windows
from calray.data.toy_sources import DOCUMENTS, toy_sources


@pytest.fixture(scope="module")
def toy_tokenizer():
    return load_tokenizer(str(calray.toy.MODEL_DIR))


def test_every_toy_source_is_registered_with_its_dimension():
    assert select_sources("toy:*") == sorted(s.name for s in calray.toy.SOURCES)
    assert len(toy_sources()) == 18 and set(DOCUMENTS) == {s.name for s in calray.toy.SOURCES}
    for toy in calray.toy.SOURCES:
        source = get_source(toy.name)
        assert source.dimension == toy.dimension and source.origin == "python" and source.sampling == "packed"
        assert source.description == toy.description
    assert len({get_source(s.name).fingerprint() for s in calray.toy.SOURCES}) == 18


@pytest.mark.parametrize("name", [s.name for s in calray.toy.SOURCES])
def test_each_toy_source_gives_a_128_by_256_set_of_its_own_documents(name: str, toy_tokenizer):
    windows = source_windows(toy_tokenizer, name, 128, seqlen=256, seed=0, use_cache=False)
    assert windows.shape == (128, 256)
    # the windows hold the source's own documents: a piece of text from each of a few windows is found in them
    documents = "\n".join(get_source(name).loader())  # type: ignore[misc]  (cached by the load above)
    for row in windows[::40]:
        piece = toy_tokenizer.decode(row[100:120].tolist())
        assert piece in documents or "</s>" in piece


def test_toy_windows_are_deterministic_and_seeded(toy_tokenizer, tmp_path):
    a = source_windows(toy_tokenizer, "toy:gsm", 16, seqlen=256, seed=0, cache_dir=tmp_path / "a")
    b = source_windows(toy_tokenizer, "toy:gsm", 16, seqlen=256, seed=0, cache_dir=tmp_path / "b")
    c = source_windows(toy_tokenizer, "toy:gsm", 16, seqlen=256, seed=1, cache_dir=tmp_path / "a")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
