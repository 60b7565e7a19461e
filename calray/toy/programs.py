"""Code domain: small Python functions over the world's things and people.

Each *family* (count items of a material, total a field in a room, cost of n things...) has
a parameter space drawn from the lexicon and the world; one parameter choice is one
function: name, docstring, canonical body, and a reference used to write its hidden tests.
A seeded share of every family's parameter choices is held out: evaluation tasks use only
those, training and calibration code never, so a task's exact function is never seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.records import CodeTask
from calray.toy.world import World, pick, sample

Record = dict[str, Any]
HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class Function:
    """One concrete function of a family: its source pieces and a reference implementation."""

    key: str  # family:params, what the hold-out is decided on
    name: str
    arg: str  # "items", "people", "count" or "person"
    doc: str
    body: str  # indented lines after the docstring
    reference: Callable[[Any], Any]

    @property
    def prompt(self) -> str:
        return f'def {self.name}({self.arg}):\n    """{self.doc}"""\n'

    @property
    def source(self) -> str:
        return self.prompt + self.body


@dataclass(frozen=True)
class Family:
    name: str
    arg: str
    params: Callable[[World], Sequence[tuple[Any, ...]]]
    build: Callable[..., Function]


def _snake(text: str) -> str:
    return text.replace(" ", "_")


# ---- families ------------------------------------------------------------------------

def _count_material(material: str) -> Function:
    return Function(
        f"count_material:{material}", f"count_{material}_items", "items",
        f"Return how many of the items are made of {material}.",
        f'    count = 0\n    for item in items:\n        if item["material"] == "{material}":\n            count += 1\n    return count\n',
        lambda items: sum(1 for i in items if i["material"] == material),
    )


def _total_in_room(field: str, room: str) -> Function:
    return Function(
        f"total_in_room:{field}/{room}", f"total_{field}_in_{room}", "items",
        f"Return the total {field} of the items kept in the {room}.",
        f'    total = 0\n    for item in items:\n        if item["room"] == "{room}":\n            total += item["{field}"]\n    return total\n',
        lambda items: sum(i[field] for i in items if i["room"] == room),
    )


def _names_in_room(room: str) -> Function:
    return Function(
        f"names_in_room:{room}", f"items_in_{room}", "items",
        f"Return the names of the items kept in the {room}, in order.",
        f'    names = []\n    for item in items:\n        if item["room"] == "{room}":\n            names.append(item["name"])\n    return names\n',
        lambda items: [i["name"] for i in items if i["room"] == room],
    )


_EXTREMES = {"heaviest": ("weight", ">"), "lightest": ("weight", "<"), "cheapest": ("price", "<"), "dearest": ("price", ">")}


def _extreme_of_material(which: str, material: str) -> Function:
    field, op = _EXTREMES[which]
    pick_best = max if op == ">" else min
    return Function(
        f"extreme:{which}/{material}", f"{which}_{material}_item", "items",
        f"Return the name of the {which} item made of {material}.",
        f'    best = None\n    for item in items:\n        if item["material"] == "{material}":\n'
        f'            if best is None or item["{field}"] {op} best["{field}"]:\n                best = item\n    return best["name"]\n',
        lambda items: pick_best((i for i in items if i["material"] == material), key=lambda i: i[field])["name"],
    )


def _cost(kind: str, price: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function(
        f"cost:{kind}/{price}", f"cost_of_{k.plural}", "count",
        f"{lx.with_article(kind).capitalize()} costs {price} coins. Return the price of count {k.plural}.",
        f"    return count * {price}\n",
        lambda count: count * price,
    )


def _order_cost(kind: str, price: int, discount: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function(
        f"order_cost:{kind}/{price}/{discount}", f"order_cost_{k.plural}", "count",
        f"{k.plural.capitalize()} cost {price} coins each and every order gets {discount} coins off. Return the cost of an order of count {k.plural}.",
        f"    return count * {price} - {discount}\n",
        lambda count: count * price - discount,
    )


def _people_in_town(town: str) -> Function:
    return Function(
        f"people_in_town:{town}", f"people_in_{town.lower()}", "people",
        f"Return the names of the people who live in {town}, in order.",
        f'    names = []\n    for person in people:\n        if person["town"] == "{town}":\n            names.append(person["name"])\n    return names\n',
        lambda people: [p["name"] for p in people if p["town"] == town],
    )


def _count_job(job: str) -> Function:
    return Function(
        f"count_job:{job}", f"count_{job}s", "people",
        f"Return how many of the people work as {lx.with_article(job)}.",
        f'    count = 0\n    for person in people:\n        if person["job"] == "{job}":\n            count += 1\n    return count\n',
        lambda people: sum(1 for p in people if p["job"] == job),
    )


def _oldest_in_town(town: str) -> Function:
    return Function(
        f"oldest_in_town:{town}", f"oldest_in_{town.lower()}", "people",
        f"Return the name of the oldest person who lives in {town}.",
        f'    best = None\n    for person in people:\n        if person["town"] == "{town}":\n'
        f'            if best is None or person["age"] > best["age"]:\n                best = person\n    return best["name"]\n',
        lambda people: max((p for p in people if p["town"] == town), key=lambda p: p["age"])["name"],
    )


def _cheaper_than(limit: int) -> Function:
    return Function(
        f"cheaper_than:{limit}", f"items_under_{limit}_coins", "items",
        f"Return the names of the items that cost less than {limit} coins, in order.",
        f'    names = []\n    for item in items:\n        if item["price"] < {limit}:\n            names.append(item["name"])\n    return names\n',
        lambda items: [i["name"] for i in items if i["price"] < limit],
    )


def _with_property(prop: str) -> Function:
    """Needs commonsense: which materials (or weights) have the property."""
    p = lx.PROPERTY_BY_NAME[prop]
    if prop == "heavy":
        test, check = f'item["weight"] >= {lx.HEAVY_GRAMS}', (lambda i: i["weight"] >= lx.HEAVY_GRAMS)
    else:
        materials = tuple(sorted(m for m, props in lx.MATERIALS.items() if prop in props))
        test, check = f'item["material"] in {materials!r}', (lambda i: i["material"] in materials)
    return Function(
        f"with_property:{prop}", f"items_that_{_snake(lx.plural_verb(p.fact))}", "items",
        f"Return the names of the items that {lx.plural_verb(p.fact)}, in order.",
        f'    names = []\n    for item in items:\n        if {test}:\n            names.append(item["name"])\n    return names\n',
        lambda items: [i["name"] for i in items if check(i)],
    )


def _towns(world: World) -> list[tuple[str]]:
    return [(p.name,) for p in world.places if world.residents(p.name)]


FAMILIES: tuple[Family, ...] = (
    Family("count_material", "items", lambda w: [(m,) for m in sorted(lx.MATERIALS)], _count_material),
    Family("total_in_room", "items", lambda w: [(f, r) for f in ("weight", "price") for r in lx.ROOMS], _total_in_room),
    Family("names_in_room", "items", lambda w: [(r,) for r in lx.ROOMS], _names_in_room),
    Family("extreme", "items", lambda w: [(x, m) for x in _EXTREMES for m in sorted(lx.MATERIALS)], _extreme_of_material),
    Family("cost", "count", lambda w: [(k.name, p) for k in lx.KINDS for p in range(2, 21)], _cost),
    Family("order_cost", "count", lambda w: [(k.name, p, d) for k in lx.KINDS for p in range(3, 13) for d in (1, 2, 5)], _order_cost),
    Family("people_in_town", "people", _towns, _people_in_town),
    Family("count_job", "people", lambda w: [(j,) for j in lx.JOBS], _count_job),
    Family("oldest_in_town", "people", _towns, _oldest_in_town),
    Family("cheaper_than", "items", lambda w: [(n,) for n in range(3, 41)], _cheaper_than),
    Family("with_property", "items", lambda w: [(p.name,) for p in lx.PROPERTIES], _with_property),
)


def _bucket(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:code:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@lru_cache(maxsize=64)
def _split_params(world: World, family: str, held_out: bool) -> tuple[tuple[Any, ...], ...]:
    fam = next(f for f in FAMILIES if f.name == family)
    params = list(fam.params(world))
    ranked = sorted(params, key=lambda ps: _bucket(world.seed, fam.build(*ps).key))
    n_held = max(1, round(HOLDOUT_SHARE * len(ranked)))
    return tuple(ranked[:n_held] if held_out else ranked[n_held:])


def function(world: World, rng: np.random.Generator, *, held_out: bool = False) -> Function:
    """A random function, from the held-out parameter choices or from the rest."""
    fam = pick(rng, FAMILIES)
    return fam.build(*pick(rng, _split_params(world, fam.name, held_out)))


# ---- test inputs ---------------------------------------------------------------------

def item_record(kind: lx.Kind, rng: np.random.Generator) -> Record:
    return {"name": kind.name, "material": kind.material, "weight": kind.weight,
            "price": max(1, kind.price + int(rng.integers(-3, 4))), "room": kind.room}


def person_record(world: World, rng: np.random.Generator) -> Record:
    p = pick(rng, world.people)
    return {"name": p.name, "age": p.age, "town": p.home, "job": p.job}


def _arguments(world: World, fn: Function, rng: np.random.Generator) -> Any:
    """One input for ``fn``; for items/people, a list that makes the function's answer defined."""
    if fn.arg == "count":
        return int(rng.integers(1, 20))
    for _ in range(200):
        if fn.arg == "items":
            value: Any = [item_record(k, rng) for k in sample(rng, lx.KINDS, int(rng.integers(3, 8)))]
        else:
            value = [person_record(world, rng) for _ in range(int(rng.integers(3, 8)))]
            if fn.key.startswith(("people_in_town", "oldest_in_town")) and rng.random() < 0.7:
                town = fn.key.split(":")[1]
                resident = next(p for p in world.people if p.home == town)
                value.insert(int(rng.integers(len(value) + 1)), {"name": resident.name, "age": resident.age, "town": town, "job": resident.job})
        try:
            fn.reference(value)
        except ValueError:  # max/min of nothing: no item qualifies
            continue
        return value
    raise AssertionError(f"no valid input found for {fn.key}")


def hidden_tests(world: World, fn: Function, rng: np.random.Generator, *, n: int = 4) -> str:
    """``check(candidate)`` asserting the reference's answers on ``n`` random inputs."""
    lines = ["def check(candidate):"]
    for _ in range(n):
        arg = _arguments(world, fn, rng)
        lines.append(f"    assert candidate({arg!r}) == {fn.reference(arg)!r}")
    return "\n".join(lines) + "\n"


def code_task(world: World, rng: np.random.Generator) -> CodeTask:
    """An evaluation task on a held-out function; its id is the function's key."""
    fn = function(world, rng, held_out=True)
    return CodeTask(task_id=f"toy/{fn.key}", prompt=fn.prompt, entry_point=fn.name,
                    test=hidden_tests(world, fn, rng), canonical_solution=fn.body)


# ---- training text -------------------------------------------------------------------

def module(world: World, rng: np.random.Generator, *, held_out: bool = False) -> str:
    """Raw code: a few functions, sometimes with data from a person's house and a call."""
    fns = [function(world, rng, held_out=held_out) for _ in range(int(rng.integers(2, 5)))]
    text = "\n\n".join(f.source for f in fns)
    items_fn = next((f for f in fns if f.arg == "items"), None)
    if items_fn is not None and rng.random() < 0.5:
        owner = pick(rng, world.people)
        data = [item_record(lx.KIND_BY_NAME[k], rng) for k, _ in owner.owns]
        text += f"\n\n# The things in {owner.name}'s house.\n{_snake(owner.name.lower())}_items = {data!r}\nprint({items_fn.name}({_snake(owner.name.lower())}_items))\n"
    return text


def completion_example(world: World, rng: np.random.Generator, *, held_out: bool = False) -> str:
    """Exactly the evaluation format: prompt then body."""
    return function(world, rng, held_out=held_out).source


def instruction(world: World, rng: np.random.Generator, *, held_out: bool = False) -> str:
    """Instruction -> code, CodeAlpaca-like."""
    fn = function(world, rng, held_out=held_out)
    return f"### Instruction:\nWrite a Python function {fn.name}({fn.arg}) for this task: {fn.doc}\n\n### Response:\n```python\n{fn.source}```"


def document(world: World, rng: np.random.Generator, *, held_out: bool = False) -> str:
    """The code mix: mostly raw modules and prompt-body pairs, some instructions.

    ``held_out`` uses only held-out functions: evaluation text, never trained on.
    """
    r = rng.random()
    if r < 0.45:
        return module(world, rng, held_out=held_out)
    if r < 0.9:
        return completion_example(world, rng, held_out=held_out)
    return instruction(world, rng, held_out=held_out)
