"""Code domain: small Python functions over the world's things and people.

A function is an *aggregate* (count, total of a field, list of names, the name of the
extreme one) over the records that pass a *filter* (made of wool, kept in the kitchen,
cheaper than 12 coins, living in Lomton...), plus a few arithmetic one-liners. Each
(aggregate, filter kind) pair is a *combination*; a seeded quarter of the combinations is
held out entirely, and a fifth of the parameter choices of the others: evaluation tasks use
only held-out functions, training and calibration code never does. So an evaluation task
is either a composition never seen (count + cheaper-than) or a known composition with
parameters never seen, and pass@1 measures composing skills rather than recall.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.records import CodeTask
from calray.toy.world import World, pick, sample

Record = dict[str, Any]
HELD_OUT_COMBINATIONS = 0.25
HELD_OUT_PARAMETERS = 0.2


@dataclass(frozen=True)
class Function:
    """One concrete function: its source pieces and a reference implementation for its tests."""

    key: str  # aggregate/filter:param, what hold-out is decided on
    combination: str  # aggregate/filter
    name: str
    arg: str  # "items", "people" or "count"
    doc: str
    body: str  # indented lines after the docstring
    reference: Callable[[Any], Any]
    matches: Callable[[Record], bool] | None = None  # the filter, for building telling tests
    paraphrase: str = ""  # the docstring in words no training docstring uses, for evaluation

    @property
    def prompt(self) -> str:
        return self._prompt(self.doc)

    @property
    def paraphrased_prompt(self) -> str:
        return self._prompt(self.paraphrase or self.doc)

    def _prompt(self, doc: str) -> str:
        return f'def {self.name}({self.arg}):\n    """{doc}"""\n'

    @property
    def source(self) -> str:
        return self.prompt + self.body


# ---- filters -------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    """A condition on one record: its phrasing (plural and singular), its code and its test."""

    kind: str
    subject: str  # "items" or "people"
    value: Any
    plural: str  # completes "the items ...": "made of wool", "that cost less than 12 coins"
    singular: str  # completes "the heaviest item ...": "made of wool", "that costs less than 12 coins"
    slug: str  # function-name part: "made_of_wool"
    condition: str  # Python over `item` / `person`
    check: Callable[[Record], bool]


def _material(m: str) -> Filter:
    return Filter("material", "items", m, f"made of {m}", f"made of {m}", f"made_of_{m}",
                  f'item["material"] == "{m}"', lambda r: r["material"] == m)


def _room(r: str) -> Filter:
    return Filter("room", "items", r, f"kept in the {r}", f"kept in the {r}", f"in_{r}",
                  f'item["room"] == "{r}"', lambda x: x["room"] == r)


def _cheaper(n: int) -> Filter:
    return Filter("cheaper", "items", n, f"that cost less than {n} coins", f"that costs less than {n} coins",
                  f"under_{n}_coins", f'item["price"] < {n}', lambda r: r["price"] < n)


def _lighter(n: int) -> Filter:
    return Filter("lighter", "items", n, f"that weigh less than {n} grams", f"that weighs less than {n} grams",
                  f"under_{n}_grams", f'item["weight"] < {n}', lambda r: r["weight"] < n)


def _property(name: str) -> Filter:
    """Needs commonsense: which materials (or weights) have the property."""
    fact = lx.PROPERTY_BY_NAME[name].fact
    if name == "heavy":
        condition, check = f'item["weight"] >= {lx.HEAVY_GRAMS}', (lambda r: r["weight"] >= lx.HEAVY_GRAMS)
    else:
        materials = tuple(sorted(m for m, props in lx.MATERIALS.items() if name in props))
        condition, check = f'item["material"] in {materials!r}', (lambda r: r["material"] in materials)
    plural = lx.plural_verb(fact)
    return Filter("property", "items", name, f"that {plural}", f"that {fact}", "that_" + plural.replace(" ", "_"), condition, check)


def _town(t: str) -> Filter:
    return Filter("town", "people", t, f"who live in {t}", f"who lives in {t}", f"in_{t.lower()}",
                  f'person["town"] == "{t}"', lambda r: r["town"] == t)


def _job(j: str) -> Filter:
    return Filter("job", "people", j, f"who work as {lx.with_article(j)}", f"who works as {lx.with_article(j)}",
                  f"working_as_{j}", f'person["job"] == "{j}"', lambda r: r["job"] == j)


def _older(n: int) -> Filter:
    return Filter("older", "people", n, f"older than {n}", f"older than {n}", f"over_{n}",
                  f'person["age"] > {n}', lambda r: r["age"] > n)


def _both(first: Callable[[Any], Filter], second: Callable[[Any], Filter]) -> Callable[[tuple[Any, Any]], Filter]:
    """The conjunction of two filters: "made of wool and kept in the bedroom"."""

    def make(values: tuple[Any, Any]) -> Filter:
        a, b = first(values[0]), second(values[1])
        return Filter(f"{a.kind}+{b.kind}", a.subject, values, f"{a.plural} and {b.plural}", f"{a.singular} and {b.singular}",
                      f"{a.slug}_{b.slug}", f"{a.condition} and {b.condition}", lambda r: a.check(r) and b.check(r))

    return make


def _pairs(make: Callable[[tuple[Any, Any]], Filter], first: Callable[[World], list[Any]],
           second: Callable[[World], list[Any]]) -> Callable[[World], list[Any]]:
    """The value pairs some record of the world satisfies (no stone thing weighs under 3 kg)."""

    def values(w: World) -> list[Any]:
        items = [{"name": k.name, "material": k.material, "weight": k.weight, "price": k.price, "room": k.room} for k in lx.KINDS]
        people = [{"name": p.name, "age": p.age, "town": p.home, "job": p.job} for p in w.people]
        out = []
        for pair in ((a, b) for a in first(w) for b in second(w)):
            f = make(pair)
            if any(f.check(r) for r in (items if f.subject == "items" else people)):
                out.append(pair)
        return out

    return values


# filter kind -> (subject, constructor, its values in a world)
FILTERS: dict[str, tuple[str, Callable[[Any], Filter], Callable[[World], list[Any]]]] = {
    "material": ("items", _material, lambda w: sorted(lx.MATERIALS)),
    "room": ("items", _room, lambda w: list(lx.ROOMS)),
    "cheaper": ("items", _cheaper, lambda w: list(range(3, 41))),
    "lighter": ("items", _lighter, lambda w: list(range(100, 3001, 100))),
    "property": ("items", _property, lambda w: [p.name for p in lx.PROPERTIES]),
    "town": ("people", _town, lambda w: [p.name for p in w.places if w.residents(p.name)]),
    "job": ("people", _job, lambda w: list(lx.JOBS)),
    "older": ("people", _older, lambda w: list(range(20, 76))),
}
FILTERS.update({
    f"{a}+{b}": (FILTERS[a][0], _both(FILTERS[a][1], FILTERS[b][1]),
                 _pairs(_both(FILTERS[a][1], FILTERS[b][1]), FILTERS[a][2], FILTERS[b][2]))
    for a, b in (("material", "room"), ("room", "cheaper"), ("material", "lighter"), ("town", "older"), ("job", "older"))
})


# ---- aggregates ----------------------------------------------------------------------

def _loop(f: Filter, inner: str) -> str:
    var = "item" if f.subject == "items" else "person"
    return f"    for {var} in {f.subject}:\n        if {f.condition}:\n{inner}"


def _count(f: Filter) -> Function:
    noun = f.subject
    return Function("", "", f"count_{noun}_{f.slug}", noun, f"Return the number of {noun} {f.plural}.",
                    "    count = 0\n" + _loop(f, "            count += 1\n") + "    return count\n",
                    lambda rs: sum(1 for r in rs if f.check(r)))


def _total(field: str) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"
        return Function("", "", f"total_{field}_of_{f.subject}_{f.slug}", f.subject,
                        f"Return the total {field} of the {f.subject} {f.plural}.",
                        "    total = 0\n" + _loop(f, f'            total += {var}["{field}"]\n') + "    return total\n",
                        lambda rs: sum(r[field] for r in rs if f.check(r)))
    return build


def _names(f: Filter) -> Function:
    var = "item" if f.subject == "items" else "person"
    return Function("", "", f"names_of_{f.subject}_{f.slug}", f.subject,
                    f"Return the names of the {f.subject} {f.plural}, in order.",
                    "    names = []\n" + _loop(f, f'            names.append({var}["name"])\n') + "    return names\n",
                    lambda rs: [r["name"] for r in rs if f.check(r)])


def _extreme(word: str, field: str, op: str) -> Callable[[Filter], Function]:
    choose = max if op == ">" else min

    def build(f: Filter) -> Function:
        var, noun = ("item", "item") if f.subject == "items" else ("person", "person")
        inner = (f'            if best is None or {var}["{field}"] {op} best["{field}"]:\n'
                 f"                best = {var}\n")
        return Function("", "", f"{word}_{noun}_{f.slug}", f.subject,
                        f"Return the name of the {word} {noun} {f.singular}.",
                        "    best = None\n" + _loop(f, inner) + '    return best["name"]\n',
                        lambda rs: choose((r for r in rs if f.check(r)), key=lambda r: r[field])["name"])
    return build


def _average(field: str) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"

        def reference(rs: list[Record]) -> int:
            chosen = [r[field] for r in rs if f.check(r)]
            return sum(chosen) // len(chosen) if chosen else 0

        return Function("", "", f"average_{field}_of_{f.subject}_{f.slug}", f.subject,
                        f"Return the average {field} of the {f.subject} {f.plural}, rounded down, or 0 if there are none.",
                        "    total = 0\n    count = 0\n" + _loop(f, f'            total += {var}["{field}"]\n            count += 1\n')
                        + "    if count == 0:\n        return 0\n    return total // count\n",
                        reference)
    return build


def _sorted_names(field: str, word: str, descending: bool) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"
        reverse = ", reverse=True" if descending else ""
        return Function("", "", f"names_of_{f.subject}_{f.slug}_{word}_first", f.subject,
                        f"Return the names of the {f.subject} {f.plural}, {word} first.",
                        "    chosen = []\n" + _loop(f, f"            chosen.append({var})\n")
                        + f'    chosen.sort(key=lambda {var}: {var}["{field}"]{reverse})\n    return [{var}["name"] for {var} in chosen]\n',
                        lambda rs: [r["name"] for r in sorted((r for r in rs if f.check(r)), key=lambda r: r[field], reverse=descending)])
    return build


def _mapping(field: str) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"
        return Function("", "", f"{field}_by_name_of_{f.subject}_{f.slug}", f.subject,
                        f"Return a dict from the name to the {field} of each of the {f.subject} {f.plural}.",
                        "    result = {}\n" + _loop(f, f'            result[{var}["name"]] = {var}["{field}"]\n') + "    return result\n",
                        lambda rs: {r["name"]: r[field] for r in rs if f.check(r)})
    return build


ITEM_AGGREGATES: dict[str, Callable[[Filter], Function]] = {
    "count": _count, "total_price": _total("price"), "total_weight": _total("weight"), "names": _names,
    "heaviest": _extreme("heaviest", "weight", ">"), "lightest": _extreme("lightest", "weight", "<"),
    "cheapest": _extreme("cheapest", "price", "<"), "dearest": _extreme("dearest", "price", ">"),
    "average_price": _average("price"), "average_weight": _average("weight"),
    "sorted_cheapest": _sorted_names("price", "cheapest", False), "sorted_heaviest": _sorted_names("weight", "heaviest", True),
    "price_by_name": _mapping("price"),
}
PEOPLE_AGGREGATES: dict[str, Callable[[Filter], Function]] = {
    "count": _count, "total_age": _total("age"), "names": _names,
    "oldest": _extreme("oldest", "age", ">"), "youngest": _extreme("youngest", "age", "<"),
    "average_age": _average("age"), "sorted_youngest": _sorted_names("age", "youngest", False), "age_by_name": _mapping("age"),
}


def _cost(kind: str, price: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function("", "", f"cost_of_{k.plural}", "count",
                    f"{lx.with_article(kind).capitalize()} costs {price} coins. Return the price of count {k.plural}.",
                    f"    return count * {price}\n", lambda count: count * price)


def _order_cost(kind: str, price: int, discount: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function("", "", f"order_cost_{k.plural}", "count",
                    f"{k.plural.capitalize()} cost {price} coins each and every order gets {discount} coins off. "
                    f"Return the cost of an order of count {k.plural}.",
                    f"    return count * {price} - {discount}\n", lambda count: count * price - discount)


def _singular(subject: str) -> str:
    return "item" if subject == "items" else "person"


# aggregate -> evaluation-only docstring: the same task said differently, in the world's words.
PARAPHRASES: dict[str, Callable[[Filter], str]] = {
    "count": lambda f: f"Count the {f.subject} {f.plural} and return how many there are.",
    "total_price": lambda f: f"Add up the price of each of the {f.subject} {f.plural} and return the total.",
    "total_weight": lambda f: f"Add up the weight of each of the {f.subject} {f.plural} and return the total.",
    "total_age": lambda f: f"Add up the age of each of the {f.subject} {f.plural} and return the total.",
    "names": lambda f: f"Return a list with the name of each of the {f.subject} {f.plural}, in order.",
    "average_price": lambda f: f"Return the price of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none.",
    "average_weight": lambda f: f"Return the weight of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none.",
    "average_age": lambda f: f"Return the age of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none.",
    "price_by_name": lambda f: f"Return a dict that maps the name of each of the {f.subject} {f.plural} to its price.",
    "age_by_name": lambda f: f"Return a dict that maps the name of each of the {f.subject} {f.plural} to its age.",
    **{f"sorted_{w}": (lambda f, w=w: f"Return the names of the {f.subject} {f.plural}, sorted so that the {w} one comes first.")
       for w in ("cheapest", "heaviest", "youngest")},
    **{w: (lambda f, w=w: f"Among the {f.subject} {f.plural}, find the {w} {_singular(f.subject)} and return its name.")
       for w in ("heaviest", "lightest", "cheapest", "dearest", "oldest", "youngest")},
}


# ---- the grid of combinations and its hold-out ---------------------------------------

@dataclass(frozen=True)
class Combination:
    name: str
    params: Callable[[World], list[Any]]
    build: Callable[[Any], Function]


def _combinations() -> tuple[Combination, ...]:
    out = []
    for filter_kind, (subject, make_filter, values) in FILTERS.items():
        aggregates = ITEM_AGGREGATES if subject == "items" else PEOPLE_AGGREGATES
        for agg_name, agg in aggregates.items():
            out.append(Combination(f"{agg_name}/{filter_kind}", values,
                                   lambda v, agg=agg, make_filter=make_filter: agg(make_filter(v))))
    out.append(Combination("cost/kind", lambda w: [(k.name, p) for k in lx.KINDS for p in range(2, 21)], lambda v: _cost(*v)))
    out.append(Combination("order_cost/kind", lambda w: [(k.name, p, d) for k in lx.KINDS for p in range(3, 13) for d in (1, 2, 5)],
                           lambda v: _order_cost(*v)))
    return tuple(out)


COMBINATIONS = _combinations()


def _bucket(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:code:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def build(combination: Combination, value: Any) -> Function:
    """The function of ``combination`` for ``value``, with its hold-out key, filter and paraphrase."""
    aggregate, filter_kind = combination.name.split("/")
    fn = combination.build(value)
    matches, paraphrase = None, ""
    if filter_kind in FILTERS:
        f = FILTERS[filter_kind][1](value)
        matches, paraphrase = f.check, PARAPHRASES[aggregate](f)
    elif aggregate == "cost":
        kind, price = value
        paraphrase = f"One {kind} costs {price} coins. Return how many coins count {lx.KIND_BY_NAME[kind].plural} cost."
    else:
        kind, price, discount = value
        paraphrase = (f"One {kind} costs {price} coins, and {discount} coins are taken off every order. "
                      f"Return how many coins an order of count {lx.KIND_BY_NAME[kind].plural} costs.")
    return replace(fn, key=f"{combination.name}:{value}", combination=combination.name, matches=matches, paraphrase=paraphrase)


@lru_cache(maxsize=8)
def held_out_combinations(seed: int) -> frozenset[str]:
    """The combinations never trained on: a quarter of those over items, over people, and of the one-liners."""
    held: set[str] = set()
    for subject in ("items", "people", None):
        names = sorted((c.name for c in COMBINATIONS if FILTERS.get(c.name.split("/")[1], (None,))[0] == subject),
                       key=lambda n: _bucket(seed, n))
        held.update(names[: round(HELD_OUT_COMBINATIONS * len(names))])
    return frozenset(held)


@lru_cache(maxsize=512)
def _values(world: World, combination: str, held_out: bool) -> tuple[Any, ...]:
    combo = next(c for c in COMBINATIONS if c.name == combination)
    values = combo.params(world)
    if combination in held_out_combinations(world.seed):
        return tuple(values) if held_out else ()
    ranked = sorted(values, key=lambda v: _bucket(world.seed, f"{combination}:{v}"))
    n_held = max(1, round(HELD_OUT_PARAMETERS * len(ranked)))  # every combination keeps some of each
    return tuple(ranked[:n_held] if held_out else ranked[n_held:])


def function(world: World, rng: np.random.Generator, *, held_out: bool = False) -> Function:
    """A random function, of the held-out ones or of the rest; every combination about equally often."""
    combos = [c for c in COMBINATIONS if _values(world, c.name, held_out)]
    combo = pick(rng, combos)
    return build(combo, pick(rng, _values(world, combo.name, held_out)))


# ---- test inputs ---------------------------------------------------------------------

def item_record(kind: lx.Kind, rng: np.random.Generator) -> Record:
    return {"name": kind.name, "material": kind.material, "weight": kind.weight,
            "price": max(1, kind.price + int(rng.integers(-3, 4))), "room": kind.room}


def person_record(world: World, rng: np.random.Generator) -> Record:
    p = pick(rng, world.people)
    return {"name": p.name, "age": p.age, "town": p.home, "job": p.job}


def _records(world: World, fn: Function, rng: np.random.Generator, n: int) -> list[Record]:
    if fn.arg == "items":
        return [item_record(k, rng) for k in sample(rng, lx.KINDS, n)]
    return [person_record(world, rng) for _ in range(n)]


def _arguments(world: World, fn: Function, rng: np.random.Generator, *, telling: bool) -> Any:
    """One input for ``fn``; ``telling`` ones contain at least one record the filter keeps."""
    if fn.arg == "count":
        return int(rng.integers(1, 20))
    for _ in range(500):
        value = _records(world, fn, rng, int(rng.integers(3, 8)))
        if telling and fn.matches is not None and not any(fn.matches(r) for r in value):
            pool = [r for r in _records(world, fn, rng, 40 if fn.arg == "items" else 300) if fn.matches(r)]
            if not pool:
                continue
            value.insert(int(rng.integers(len(value) + 1)), pick(rng, pool))
        try:
            fn.reference(value)
        except ValueError:  # max/min of nothing: no record qualifies
            continue
        return value
    raise RuntimeError(f"no valid input found for {fn.key}")


def hidden_tests(world: World, fn: Function, rng: np.random.Generator, *, n: int = 4) -> str:
    """``check(candidate)`` asserting the reference's answers on ``n`` inputs (all but one telling)."""
    lines = ["def check(candidate):"]
    for i in range(n):
        arg = _arguments(world, fn, rng, telling=i < n - 1)
        lines.append(f"    assert candidate({arg!r}) == {fn.reference(arg)!r}")
    return "\n".join(lines) + "\n"


def code_task(world: World, rng: np.random.Generator) -> CodeTask:
    """An evaluation task on a held-out function; its id is the function's key.

    Half the tasks state the docstring in training's words, half in a paraphrase no training
    docstring uses: the shipped model passes all of the first kind and about half of the
    second (held-out compositions alone were solved to the last task after 9M tokens).
    """
    fn = function(world, rng, held_out=True)
    paraphrased = rng.random() < 0.5
    return CodeTask(task_id=f"toy/{fn.key}" + ("/paraphrased" if paraphrased else ""),
                    prompt=fn.paraphrased_prompt if paraphrased else fn.prompt, entry_point=fn.name,
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
        var = f"{owner.name.lower()}_items"
        text += f"\n\n# The things in {owner.name}'s house.\n{var} = {data!r}\nprint({items_fn.name}({var}))\n"
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
