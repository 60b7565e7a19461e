import numpy as np

from calray.toy.corpus import DOMAIN_DOCUMENTS, DOMAINS, world
from calray.toy.sources import SOURCES, shuffled, source
from calray.toy.splits import split_of


def test_at_least_fifteen_sources_cover_every_dimension_and_controls():
    names = [s.name for s in SOURCES]
    assert len(names) >= 15 and len(set(names)) == len(names)
    assert all(n.startswith("toy:") for n in names)
    for d in DOMAINS:
        assert [s for s in SOURCES if s.dimension == d and not s.control], d
        assert source(f"toy:shuffled_{d}").control
    assert source("toy:random").control and source("toy:repeated").control


def test_sources_are_deterministic_calibration_documents():
    for s in SOURCES:
        docs = s.documents(4)
        assert docs == s.documents(4), s.name
        assert docs != s.documents(4, seed=1), s.name
        assert all(isinstance(d, str) and len(d.split()) >= 5 for d in docs), s.name
    for name in ("toy:web", "toy:encyclopedia", "toy:stories", "toy:code"):
        assert all(split_of(d, seed=0) == "calibration" for d in source(name).documents(20))


def test_information_content_spans_a_wide_range():
    """Distinct-word ratio: repeated text is near zero, random words near one, real text between."""

    def distinct(name):
        words = " ".join(source(name).documents(30)).split()
        return len(set(words)) / len(words)

    assert distinct("toy:repeated") < 0.02
    assert distinct("toy:random") > 0.5
    assert distinct("toy:repeated") < distinct("toy:metamath") < distinct("toy:encyclopedia") < distinct("toy:random")


def test_shuffled_control_keeps_the_words_and_destroys_the_order():
    w = world(0)
    for domain in ("math", "code"):
        original = DOMAIN_DOCUMENTS[domain](w, np.random.default_rng(5), "calibration")
        mixed = shuffled(domain)(w, np.random.default_rng(5), "calibration")
        assert sorted(original.split()) == sorted(mixed.split())
        assert original.split() != mixed.split()
