"""Commonsense domain: everyday facts about the world's things and question-answer practice.

Training states one-hop facts (a kettle is made of iron; iron rusts in the rain) and asks
question-answer pairs in training phrasings. A seeded share of (kind, property) pairs is
*held out*: training never states or asks "a kettle rusts" directly, so evaluation items on
those pairs need two hops (kind -> material -> property) and are asked in phrasings that
training never uses. Distractors are close (same room or same question type).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.records import ChoiceItem
from calray.toy.world import World, pick, sample

ADJECTIVE = {"wood": "wooden", "wool": "woollen"}
HOLDOUT_SHARE = 0.35


def thing(kind: lx.Kind, *, with_material: bool = False) -> str:
    """'a kettle' or, with the material, 'an iron kettle'."""
    phrase = f"{ADJECTIVE.get(kind.material, kind.material)} {kind.name}" if with_material else kind.name
    return lx.with_article(phrase)


def _bucket(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@lru_cache(maxsize=16)
def held_out_pairs(seed: int) -> frozenset[tuple[str, str]]:
    """(kind, property) pairs that hold but are stated and asked only at evaluation, per property."""
    pairs: set[tuple[str, str]] = set()
    for prop in lx.PROPERTIES:
        positives = sorted(k.name for k in lx.KINDS if lx.has_property(k, prop.name))
        ranked = sorted(positives, key=lambda k: _bucket(seed, f"{k}/{prop.name}"))
        pairs.update((k, prop.name) for k in ranked[: max(1, round(HOLDOUT_SHARE * len(ranked)))])
    return frozenset(pairs)


def _positives(prop: str, seed: int, *, held_out: bool) -> list[lx.Kind]:
    held = held_out_pairs(seed)
    return [k for k in lx.KINDS if lx.has_property(k, prop) and ((k.name, prop) in held) == held_out]


def _negatives(prop: str) -> list[lx.Kind]:
    return [k for k in lx.KINDS if not lx.has_property(k, prop)]


# ---- training text -------------------------------------------------------------------

def kind_fact(kind: lx.Kind, rng: np.random.Generator) -> str:
    which = int(rng.integers(4))
    if which == 0:
        return pick(
            rng,
            (
                f"{thing(kind).capitalize()} is made of {kind.material}.",
                f"{kind.plural.capitalize()} are made of {kind.material}.",
            ),
        )
    if which == 1:  # both directions, so "what do I need to X" is learnable as well as "what is Y for"
        return pick(rng, (f"{thing(kind).capitalize()} is used to {kind.use}.", f"People use {thing(kind)} to {kind.use}.",
                          f"To {kind.use}, people use {thing(kind)}."))
    if which == 2:
        return f"{thing(kind).capitalize()} is usually kept in the {kind.room}."
    return f"{thing(kind).capitalize()} weighs about {kind.weight} grams."


def material_fact(rng: np.random.Generator) -> str:
    material = pick(rng, sorted(lx.MATERIALS))
    prop = pick(rng, [p for p in lx.PROPERTIES if p.name != "heavy"])
    phrase = prop.fact if prop.name in lx.MATERIALS[material] else prop.negation
    return pick(rng, (f"{material.capitalize()} {phrase}.", f"Things made of {material} {lx.plural_verb(phrase)}."))


def two_hop_fact(seed: int, rng: np.random.Generator) -> str:
    """A kind-level property stated with its reason, never for a held-out pair."""
    prop = pick(rng, lx.PROPERTIES)
    kind = pick(rng, _positives(prop.name, seed, held_out=False) or _negatives(prop.name))
    if not lx.has_property(kind, prop.name):
        return f"{thing(kind).capitalize()} {prop.negation}."
    reason = f"it weighs about {kind.weight} grams" if prop.name == "heavy" else f"it is made of {kind.material}"
    return f"{thing(kind).capitalize()} {prop.fact}, because {reason}."


def facts_doc(world: World, rng: np.random.Generator) -> str:
    """A paragraph of everyday facts, some about the world's people and their things."""
    lines = []
    for _ in range(int(rng.integers(4, 9))):
        r = rng.random()
        if r < 0.45:
            lines.append(kind_fact(pick(rng, lx.KINDS), rng))
        elif r < 0.7:
            lines.append(material_fact(rng))
        elif r < 0.85:
            lines.append(two_hop_fact(world.seed, rng))
        else:
            p = pick(rng, world.people)
            kind = lx.KIND_BY_NAME[pick(rng, p.owns)[0]]
            lines.append(f"{p.name} keeps {p.possessive} {kind.name} in the {kind.room} and uses it to {kind.use}.")
    return " ".join(lines)


def _property_question(seed: int, rng: np.random.Generator, *, held_out: bool, n_choices: int,
                       with_goal: bool = False) -> tuple[lx.Property, lx.Kind, list[lx.Kind]]:
    props = [p for p in lx.PROPERTIES if _positives(p.name, seed, held_out=held_out) and (p.goal or not with_goal)]
    prop = pick(rng, props)
    gold = pick(rng, _positives(prop.name, seed, held_out=held_out))
    negatives = _negatives(prop.name)
    same_room = [k for k in negatives if k.room == gold.room]
    pool = same_room if len(same_room) >= n_choices - 1 else negatives
    return prop, gold, sample(rng, pool, n_choices - 1)


def qa_pair(world: World, rng: np.random.Generator) -> tuple[str, str]:
    """One training question and its answer, in training phrasings, never on a held-out pair."""
    kind = pick(rng, lx.KINDS)
    which = int(rng.integers(6))
    if which == 0:
        prop, gold, _ = _property_question(world.seed, rng, held_out=False, n_choices=2)
        return prop.question, thing(gold)
    if which == 1:
        prop, gold, _ = _property_question(world.seed, rng, held_out=False, n_choices=2, with_goal=True)
        return str(prop.goal), thing(gold)
    if which == 2:
        return f"What is {thing(kind)} made of?", kind.material
    if which == 3:
        return f"Where is {thing(kind)} usually kept?", f"in the {kind.room}"
    if which == 4:
        return f"What is {thing(kind)} used for?", f"to {kind.use}"
    a, b = sample(rng, list({k.weight: k for k in lx.KINDS}.values()), 2)
    if rng.random() < 0.5:
        return f"Which is heavier, {thing(a)} or {thing(b)}?", thing(a if a.weight > b.weight else b)
    return f"Which is lighter, {thing(a)} or {thing(b)}?", thing(a if a.weight < b.weight else b)


def qa_doc(world: World, rng: np.random.Generator) -> str:
    """A few question-answer pairs in the format the evaluation scores continuations in."""
    pairs = [qa_pair(world, rng) for _ in range(int(rng.integers(3, 6)))]
    return "\n\n".join(f"Question: {q}\nAnswer: {a}" for q, a in pairs)


def choices_doc(world: World, rng: np.random.Generator) -> str:
    """CommonsenseQA-like: the question, lettered choices, and the lettered answer."""
    blocks = []
    for _ in range(int(rng.integers(2, 4))):
        prop, gold, distractors = _property_question(world.seed, rng, held_out=False, n_choices=4)
        options = [gold, *distractors]
        order = rng.permutation(4)
        letters = "ABCD"
        listed = "\n".join(f"{letters[j]}) {thing(options[i])}" for j, i in enumerate(order))
        answer = letters[int(np.argmin(order))]
        blocks.append(f"Question: {prop.question}\n{listed}\nAnswer: {answer}) {thing(gold)}")
    return "\n\n".join(blocks)


def document(world: World, rng: np.random.Generator) -> str:
    """The commonsense training mix: facts and question-answer practice."""
    r = rng.random()
    if r < 0.5:
        return facts_doc(world, rng)
    if r < 0.85:
        return qa_doc(world, rng)
    return choices_doc(world, rng)


# ---- evaluation items ----------------------------------------------------------------

def piqa_item(world: World, rng: np.random.Generator) -> ChoiceItem:
    """Two solutions to a goal, paraphrased: a thing's use, a trained property, or a held-out
    property (two hops: kind -> material -> property), a third each."""
    which = int(rng.integers(3))
    if which == 0:
        gold = pick(rng, lx.KINDS)
        others = [k for k in lx.KINDS if k is not gold]
        other = pick(rng, [k for k in others if k.room == gold.room] or others)  # close: same room if any
        return ChoiceItem.shuffled(f"If you want to {gold.use}, take", thing(gold) + ".", [thing(other) + "."], rng)
    prop, gold, (other,) = _property_question(world.seed, rng, held_out=which == 2, n_choices=2, with_goal=True)
    return ChoiceItem.shuffled(str(prop.unseen_goal), thing(gold) + ".", [thing(other) + "."], rng)


def arc_item(world: World, rng: np.random.Generator) -> ChoiceItem:
    """Four choices, paraphrased: a held-out property (two hops; a third of the items), a
    trained property, the room a thing is kept in, the heaviest or the lightest of four."""
    which = int(rng.integers(6))
    if which <= 2:
        prop, gold, distractors = _property_question(world.seed, rng, held_out=which <= 1, n_choices=4)
        return ChoiceItem.shuffled(
            f"Question: {prop.unseen_question}\nAnswer:", thing(gold), [thing(k) for k in distractors], rng
        )
    if which == 3:
        kind = pick(rng, lx.KINDS)
        others = sample(rng, [r for r in lx.ROOMS if r != kind.room], 3)
        return ChoiceItem.shuffled(f"Question: In which room is {thing(kind)} kept?\nAnswer: the", kind.room, others, rng)
    four = sample(rng, list({k.weight: k for k in lx.KINDS}.values()), 4)
    word, best = ("most", max(four, key=lambda k: k.weight)) if which == 4 else ("least", min(four, key=lambda k: k.weight))
    listed = ", ".join(thing(k) for k in four[:3]) + f" or {thing(four[3])}"
    return ChoiceItem.shuffled(f"Question: Which one weighs the {word}: {listed}?\nAnswer:", thing(best),
                               [thing(k) for k in four if k is not best], rng)
