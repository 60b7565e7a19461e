"""General domain: prose about the world's people and places.

Encyclopedic entries and stories are the training prose; web pages (the same facts wrapped
in navigation, typos and boilerplate) and instructions (Alpaca-like) are noisier or
differently formatted views of the same knowledge. The evaluation's knowledge items ask
those facts back in sentence frames that never occur in training.
"""

from __future__ import annotations

import hashlib

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.records import ChoiceItem
from calray.toy.world import Person, Place, World, pick, sample


def _owned_phrase(kind: str, count: int) -> str:
    k = lx.KIND_BY_NAME[kind]
    return lx.with_article(k.name) if count == 1 else f"{lx.number_word(count)} {k.plural}"


def person_facts(world: World, p: Person, rng: np.random.Generator) -> list[str]:
    """One sentence per fact about ``p``, each in a randomly chosen training phrasing."""
    home = world.place(p.home)
    P = p.pronoun.capitalize()
    facts = [
        pick(
            rng,
            (
                f"{p.name} is {lx.with_article(p.job)}.",
                f"{p.name} works as {lx.with_article(p.job)}.",
                f"By trade, {p.name} is {lx.with_article(p.job)}.",
            ),
        ),
        pick(
            rng,
            (
                f"{p.name} lives in {p.home}.",
                f"{p.name}'s home is in {p.home}, {lx.with_article(home.kind)} in the {home.region}.",
                f"{P} lives in {p.home}, on the river {home.river}.",
            ),
        ),
        pick(rng, (f"{p.name} is {p.age} years old.", f"{P} is {p.age}.")),
        pick(rng, (f"{p.name}'s favourite colour is {p.colour}.", f"{P} likes the colour {p.colour} best.")),
        pick(rng, (f"{p.name} keeps {lx.with_article(p.pet)}.", f"{p.name} has a pet {p.pet}.")),
        pick(rng, (f"{p.name} is a friend of {p.friend}.", f"{p.possessive.capitalize()} best friend is {p.friend}.")),
    ]
    owned = [_owned_phrase(k, c) for k, c in p.owns]
    facts.append(pick(rng, (f"{P} owns {owned[0]}, {owned[1]} and {owned[2]}.",
                            f"At home {p.name} has {owned[0]}, {owned[1]} and {owned[2]}.")))
    return facts


def person_entry(world: World, rng: np.random.Generator) -> str:
    """An encyclopedia article about one person: the job first, other facts in random order."""
    p = pick(rng, world.people)
    facts = person_facts(world, p, rng)
    rest = facts[1:]
    rng.shuffle(rest)
    title = pick(rng, (f"{p.name}\n\n", f"= {p.name} =\n", ""))
    return title + " ".join([facts[0], *rest[: int(rng.integers(4, len(rest) + 1))]])


def place_facts(world: World, place: Place, rng: np.random.Generator) -> list[str]:
    known = lx.KIND_BY_NAME[place.known_for]
    people = world.residents(place.name)
    facts = [
        f"{place.name} is {lx.with_article(place.kind)} in the {place.region}.",
        pick(rng, (f"The river {place.river} flows through {place.name}.", f"{place.name} lies on the river {place.river}.")),
        pick(
            rng,
            (
                f"About {place.population} people live in {place.name}.",
                f"{place.name} has a population of about {place.population}.",
            ),
        ),
        pick(rng, (f"{place.name} is known for its {known.plural}.", f"{place.name} makes fine {known.plural}.")),
        pick(
            rng,
            (f"Market day in {place.name} is {place.market_day}.", f"The market in {place.name} opens every {place.market_day}."),
        ),
    ]
    if people:
        shown = sample(rng, people, min(3, len(people)))
        facts.append("People from " + place.name + " include " + ", ".join(f"{q.name} the {q.job}" for q in shown) + ".")
    return facts


def place_entry(world: World, rng: np.random.Generator) -> str:
    place = pick(rng, world.places)
    facts = place_facts(world, place, rng)
    rest = facts[1:]
    rng.shuffle(rest)
    return pick(rng, (f"{place.name}\n\n", f"= {place.name} =\n", "")) + " ".join([facts[0], *rest])


def entry(world: World, rng: np.random.Generator) -> str:
    """An encyclopedia article, about a person (mostly) or a place."""
    return person_entry(world, rng) if rng.random() < 0.8 else place_entry(world, rng)


def story(world: World, rng: np.random.Generator) -> str:
    """A short narrative: someone travels to buy a thing, meets a friend, something happens."""
    p = pick(rng, world.people)
    friend = world.person(p.friend)
    dest = pick(rng, world.places)
    thing = lx.KIND_BY_NAME[dest.known_for]
    price = max(1, thing.price + int(rng.integers(-2, 3)))
    P, poss = p.pronoun.capitalize(), p.possessive
    lines = [
        pick(
            rng,
            (
                f"One {pick(rng, lx.WEEKDAYS)} morning, {p.name} left {poss} home in {p.home}.",
                f"It was early when {p.name} the {p.job} set out from {p.home}.",
                f"{p.name} woke before sunrise and fed {poss} {p.pet}.",
            ),
        ),
        (f"{P} wanted to buy {lx.with_article(thing.name)}, so {p.pronoun} walked to {dest.name}, which "
         f"is known for its {thing.plural}."),
    ]
    if rng.random() < 0.7:
        lines.append(
            pick(
                rng,
                (
                    f"On the road {p.pronoun} met {friend.name}, the {friend.job}.",
                    (f"Near the bridge {p.pronoun} saw {poss} friend {friend.name}, who was carrying "
                     f"{lx.with_article(lx.KIND_BY_NAME[friend.owns[0][0]].name)}."),
                ),
            )
        )
        lines.append(f'"Where are you going?" asked {friend.name}. "To {dest.name}," said {p.name}.')
    lines.append(f"At the market {p.name} paid {price} coins for {lx.with_article(thing.name)} made of {thing.material}.")
    if lx.has_property(thing, "heavy"):
        lines.append(f"The {thing.name} was heavy to carry, so {p.name} rested many times on the way home.")
    elif lx.has_property(thing, "fragile"):
        lines.append(pick(rng, (f"On the way home {p.name} dropped the {thing.name}, and it broke. {P} was very sad.",
                                f"{P} carried the {thing.name} carefully, because it breaks when it is dropped.")))
    elif lx.has_property(thing, "rusts") and rng.random() < 0.6:
        lines.append(f"It began to rain, and {p.name} worried that the {thing.name} would rust.")
    elif lx.has_property(thing, "floats") and rng.random() < 0.6:
        lines.append(
            f"Crossing the river {dest.river}, the {thing.name} fell into the water, but it floated and {p.name} caught it."
        )
    lines.append(pick(rng, (f"When {p.pronoun} got home, {p.name} put the {thing.name} in the {thing.room}.",
                            f"Back in {p.home}, {p.pronoun} used the new {thing.name} to {thing.use}.")))
    lines.append(
        pick(rng, ("That night everyone slept well.", f"{P} told the whole story to {poss} {p.pet}.", "It had been a good day."))
    )
    return " ".join(lines)


_NAV = ("Home | News | Contact", "Menu: Home > Places > Articles", "Share this page", "Sign up for our newsletter",
        "Copyright the Market Gazette. All rights reserved.", "Read more...", "Comments (0)", "Back to top")


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 2))
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def web_page(world: World, rng: np.random.Generator) -> str:
    """The world's facts as a scraped web page: navigation, dates, typos, shouting, fragments."""
    parts = [pick(rng, _NAV), f"Posted on {pick(rng, lx.WEEKDAYS)} by {pick(rng, world.people).name.lower()}"]
    for _ in range(int(rng.integers(2, 4))):
        source = story(world, rng) if rng.random() < 0.5 else entry(world, rng)
        words = source.split()
        cut = int(rng.integers(len(words) // 2, len(words) + 1))
        words = [(_typo(w, rng) if rng.random() < 0.05 else w) for w in words[:cut]]
        if rng.random() < 0.2:
            words = [w.upper() for w in words]
        parts.append(" ".join(words))
        if rng.random() < 0.5:
            place = pick(rng, world.places)
            parts.append(f"www.{place.name.lower()}.toy/{pick(rng, lx.KINDS).plural} - {pick(rng, _NAV)}")
    parts.append(pick(rng, _NAV))
    return "\n".join(parts)


def instruction(world: World, rng: np.random.Generator) -> str:
    """An Alpaca-like instruction/response pair about the world."""
    p = pick(rng, world.people)
    place = pick(rng, world.places)
    choice = int(rng.integers(5))
    if choice == 0:
        task, answer = f"Describe {p.name} in a few sentences.", " ".join(person_facts(world, p, rng))
    elif choice == 1:
        task, answer = f"Tell me about {place.name}.", " ".join(place_facts(world, place, rng))
    elif choice == 2:
        task = f"Write a short story about {p.name}."
        answer = story(world, rng)
    elif choice == 3:
        task = f"List the things that {p.name} owns."
        answer = "\n".join(f"- {_owned_phrase(k, c)}" for k, c in p.owns)
    else:
        people = world.residents(place.name)[:4]
        task = f"Who lives in {place.name}?"
        answer = ", ".join(f"{q.name} the {q.job}" for q in people) + "." if people else f"Nobody we know lives in {place.name}."
    return f"### Instruction:\n{task}\n\n### Response:\n{answer}"


def quizzed(world: World, name: str) -> bool:
    """Half the people and places are asked about in training quizzes; evaluation asks about the others."""
    digest = hashlib.sha256(f"{world.seed}:quiz:{name}".encode()).digest()
    return digest[0] < 128


def _person_question(world: World, p: Person, relation: int) -> tuple[str, str, list[str]]:
    """(query, answer, pool of same-type answers) for one fact about ``p``; ages have close distractors."""
    if relation == 0:
        return f"Question: What work does {p.name} do?\nAnswer: {p.name} is a", p.job, list(lx.JOBS)
    if relation == 1:
        return f"Question: In which place does {p.name} live?\nAnswer:", p.home, [q.name for q in world.places]
    if relation == 2:
        return f"Question: What animal does {p.name} keep?\nAnswer: a", p.pet, list(lx.PETS)
    if relation == 3:
        return f"Question: Which colour does {p.name} like best?\nAnswer:", p.colour, list(lx.COLOURS)
    if relation == 4:
        return f"Question: Who is {p.name}'s best friend?\nAnswer:", p.friend, [q.name for q in world.people if q is not p]
    return f"Question: How old is {p.name}?\nAnswer: {p.name} is", str(p.age), [str(p.age + d) for d in range(-6, 7) if d]


def _place_question(place: Place) -> tuple[str, str, list[str]]:
    return (f"Question: What is {place.name} known for?\nAnswer: its", lx.KIND_BY_NAME[place.known_for].plural,
            [k.plural for k in lx.KINDS])


def quiz(world: World, rng: np.random.Generator) -> str:
    """A few questions about quizzed people and about places, with their answers (trivia practice)."""
    pairs = []
    for _ in range(int(rng.integers(3, 6))):
        if rng.random() < 0.8:
            query, answer, _ = _person_question(
                world, pick(rng, [p for p in world.people if quizzed(world, p.name)]), int(rng.integers(6))
            )
        else:
            query, answer, _ = _place_question(pick(rng, [q for q in world.places if quizzed(world, q.name)]))
        pairs.append(f"{query} {answer}")
    return "\n\n".join(pairs)


def knowledge_item(world: World, rng: np.random.Generator) -> ChoiceItem:
    """A 4-way question (MMLU-like, about this world) on a fact that training states in prose
    only: training quizzes ask the same questions about the other half of the people and places."""
    if rng.random() < 0.85:
        p = pick(rng, [q for q in world.people if not quizzed(world, q.name)])
        query, gold, pool = _person_question(world, p, int(rng.integers(6)))
    else:
        query, gold, pool = _place_question(pick(rng, [q for q in world.places if not quizzed(world, q.name)]))
    return ChoiceItem.shuffled(query, gold, sample(rng, [x for x in pool if x != gold], 3), rng)


def document(world: World, rng: np.random.Generator) -> str:
    """The general training mix: mostly encyclopedia and stories, some web pages, quizzes and instructions."""
    r = rng.random()
    if r < 0.4:
        return entry(world, rng)
    if r < 0.75:
        return story(world, rng)
    if r < 0.85:
        return web_page(world, rng)
    if r < 0.93:
        return quiz(world, rng)
    return instruction(world, rng)
