"""Toy calibration sources: the real sources' characters, rebuilt inside the toy world.

Each ``ToySource`` produces documents of the calibration split deterministically from a
seed; they are plain generators, to be registered in the calibration-data registry like any
other source (``name`` already follows its ``toy:...`` convention). They span the range the
information metrics care about: clean encyclopedic prose, noisy web text, long repetitive
chains of thought, dense equations, code, instructions, and controls with no structure
(random words), no information (one sentence repeated) or a domain's words without its
format (shuffled).

>>> source("toy:gsm").documents(1)[0].startswith("Question:")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calray.toy import arithmetic, commonsense, general, programs
from calray.toy import lexicon as lx
from calray.toy.corpus import DEFAULT_SEED, DOMAIN_DOCUMENTS, Generator, by_text, generate, stream_rng
from calray.toy.splits import Split
from calray.toy.world import World, pick


@dataclass(frozen=True)
class ToySource:
    """A named calibration corpus of the toy world.

    ``dimension`` is the capability it is meant to serve (controls carry the dimension they
    imitate; the two structure-free ones say ``general``); ``control`` marks sources that
    exist to be bad, as reference points.
    """

    name: str
    dimension: str
    generator: Generator
    description: str = ""
    control: bool = False

    def documents(self, n: int, *, seed: int = 0, world_seed: int = DEFAULT_SEED) -> list[str]:
        """``n`` calibration documents; ``seed`` picks which, ``world_seed`` whose world they describe."""
        return generate(self.generator, self.name, "calibration", n, seed=world_seed, stream=seed)


# ---- controls ------------------------------------------------------------------------

@lru_cache(maxsize=8)
def vocabulary(w: World) -> tuple[str, ...]:
    """Every word the world's generators use, once: what 'random tokens' draw from uniformly."""
    words: set[str] = set()
    for domain, make in DOMAIN_DOCUMENTS.items():
        rng = stream_rng(w.seed, f"vocabulary:{domain}", "train")
        for _ in range(300):
            words.update(make(w, rng, "train").split())
    return tuple(sorted(words))


def random_words(w: World, rng: np.random.Generator, split: Split) -> str:
    words = vocabulary(w)
    return " ".join(words[i] for i in rng.integers(len(words), size=int(rng.integers(60, 200))))


def repeated_sentence(w: World, rng: np.random.Generator, split: Split) -> str:
    """One short sentence about the world, said over and over."""
    sentence = pick(rng, [commonsense.kind_fact(pick(rng, lx.KINDS), rng), *general.person_facts(w, pick(rng, w.people), rng)])
    return " ".join([sentence] * int(rng.integers(20, 40)))


def shuffled(domain: str) -> Generator:
    """The domain's calibration documents with their words in random order."""
    make = DOMAIN_DOCUMENTS[domain]

    def generate_shuffled(w: World, rng: np.random.Generator, split: Split) -> str:
        words = make(w, rng, split).split()
        return " ".join(words[i] for i in rng.permutation(len(words)))

    return generate_shuffled


SOURCES: tuple[ToySource, ...] = (
    ToySource(
        "toy:web",
        "general",
        by_text(general.web_page),
        "C4-like: the world's prose scraped with navigation, typos, shouting and cut-off sentences",
    ),
    ToySource("toy:encyclopedia", "general", by_text(general.entry), "WikiText-like articles on people and places"),
    ToySource("toy:stories", "general", by_text(general.story), "TinyStories/Cosmopedia-like narratives"),
    ToySource(
        "toy:instructions", "general", by_text(general.instruction), "Alpaca/Dolly-like instruction and response about the world"
    ),
    ToySource(
        "toy:commonsense_facts", "commonsense", by_text(commonsense.facts_doc), "everyday facts about things and materials"
    ),
    ToySource(
        "toy:commonsense_qa",
        "commonsense",
        by_text(commonsense.choices_doc),
        "CommonsenseQA-like questions with lettered choices and answer",
    ),
    ToySource("toy:gsm", "math", arithmetic.worked_doc, "GSM8K-like word problems with worked steps and '#### answer'"),
    ToySource("toy:metamath", "math", arithmetic.chain_of_thought_doc, "MetaMathQA-like long, repetitive chains of thought"),
    ToySource("toy:equations", "math", arithmetic.equations_doc, "equation-only math: numbers and operators, no words"),
    ToySource("toy:math_qa", "math", arithmetic.question_and_answer_doc, "SVAMP-like raw problems with the final answer only"),
    ToySource("toy:code", "code", by_text(programs.module), "raw Python modules over the world's records"),
    ToySource("toy:code_instruct", "code", by_text(programs.instruction), "CodeAlpaca-like instruction -> code"),
    ToySource("toy:random", "general", random_words, "control: words of the world's vocabulary drawn uniformly", control=True),
    ToySource("toy:repeated", "general", repeated_sentence, "control: one sentence repeated 20-40 times", control=True),
    *(
        ToySource(f"toy:shuffled_{d}", d, shuffled(d), f"control: {d} calibration documents with shuffled words", control=True)
        for d in ("general", "commonsense", "math", "code")
    ),
)


def source(name: str) -> ToySource:
    for s in SOURCES:
        if s.name == name:
            return s
    raise KeyError(f"unknown toy source {name!r}; known: {', '.join(s.name for s in SOURCES)}")
