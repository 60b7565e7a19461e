"""The shared world: people and places drawn from a seed, on top of the fixed lexicon.

One ``World`` feeds every domain: the encyclopedia describes its people, the commonsense
facts describe the kinds they own, the word problems count and price those things, and the
code manipulates them as records. ``build_world(seed)`` is pure: same seed, same world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np

from calray.toy import lexicon as lx

T = TypeVar("T")


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, stream...) so domains and splits never share draws."""
    return np.random.default_rng([seed, *stream])


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def sample(rng: np.random.Generator, items: Sequence[T], k: int) -> list[T]:
    """``k`` distinct items in random order."""
    return [items[int(i)] for i in rng.choice(len(items), size=k, replace=False)]


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # town, village, port, city
    region: str
    river: str
    population: int
    known_for: str  # a lexicon kind the place makes
    market_day: str


@dataclass(frozen=True)
class Person:
    name: str
    pronoun: str  # "she" or "he"
    age: int
    home: str  # a Place name
    job: str
    colour: str  # favourite colour
    pet: str
    owns: tuple[tuple[str, int], ...]  # (kind name, count)
    friend: str  # another Person name

    @property
    def possessive(self) -> str:
        return "her" if self.pronoun == "she" else "his"


@dataclass(frozen=True, eq=False)  # identity hash: cheap cache key for derived tables
class World:
    seed: int
    places: tuple[Place, ...]
    people: tuple[Person, ...]

    def person(self, name: str) -> Person:
        return self._people_by_name[name]

    def place(self, name: str) -> Place:
        return self._places_by_name[name]

    @cached_property
    def _people_by_name(self) -> dict[str, Person]:
        return {p.name: p for p in self.people}

    @cached_property
    def _places_by_name(self) -> dict[str, Place]:
        return {p.name: p for p in self.places}

    def residents(self, place: str) -> list[Person]:
        return [p for p in self.people if p.home == place]


def _invent_names(rng: np.random.Generator, n: int, *, syllables: int, endings: Sequence[str] = ("",)) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        parts = [pick(rng, lx.ONSETS) + pick(rng, lx.VOWELS) for _ in range(syllables)]
        name = ("".join(parts) + pick(rng, lx.CODAS) + pick(rng, endings)).capitalize()
        if name not in seen and 4 <= len(name) <= 11:
            seen.add(name)
            names.append(name)
    return names


def build_world(seed: int, *, n_people: int = 200, n_places: int = 20) -> World:
    """People, places and who owns what, all drawn from ``seed``."""
    rng = rng_for(seed, 0)
    place_names = _invent_names(rng, n_places, syllables=1, endings=lx.PLACE_ENDINGS)
    rivers = _invent_names(rng, 8, syllables=1)
    places = tuple(
        Place(
            name=name,
            kind=pick(rng, lx.PLACE_KINDS),
            region=pick(rng, lx.REGIONS),
            river=pick(rng, rivers),
            population=int(rng.integers(2, 90)) * 100,
            known_for=pick(rng, lx.KINDS).name,
            market_day=pick(rng, lx.WEEKDAYS),
        )
        for name in place_names
    )
    names = _invent_names(rng, n_people, syllables=2)
    people = []
    for i, name in enumerate(names):
        owned = sample(rng, lx.KINDS, 3)
        people.append(
            Person(
                name=name,
                pronoun=pick(rng, ("she", "he")),
                age=int(rng.integers(18, 80)),
                home=pick(rng, place_names),
                job=pick(rng, lx.JOBS),
                colour=pick(rng, lx.COLOURS),
                pet=pick(rng, lx.PETS),
                owns=tuple((k.name, int(rng.integers(1, 9))) for k in owned),
                friend=names[(i + 1 + int(rng.integers(n_people - 1))) % n_people],
            )
        )
    return World(seed=seed, places=places, people=tuple(people))
