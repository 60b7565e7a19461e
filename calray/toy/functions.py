"""Code functions of the toy world: an aggregate over the records that pass a filter.

A ``Filter`` is a condition on one record (made of wool, kept in the kitchen, cheaper than
12 coins, living in Lomton, two of these at once) with its phrasing, its Python and its
check; an *aggregate* turns a filter into a ``Function`` (count, total, average, names,
names sorted, the extreme one, a name -> value dict): name, docstring, canonical body, a
reference implementation for the hidden tests, and a paraphrased docstring that only
evaluation uses. Which functions training and evaluation may use is ``programs``' business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from calray.toy import lexicon as lx
from calray.toy.world import World

Record = dict[str, Any]


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
    return Filter(
        "property", "items", name, f"that {plural}", f"that {fact}", "that_" + plural.replace(" ", "_"), condition, check
    )


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

        return Function(
            "",
            "",
            f"average_{field}_of_{f.subject}_{f.slug}",
            f.subject,
            f"Return the average {field} of the {f.subject} {f.plural}, rounded down, or 0 if there are none.",
            "    total = 0\n    count = 0\n"
            + _loop(f, f'            total += {var}["{field}"]\n            count += 1\n')
            + "    if count == 0:\n        return 0\n    return total // count\n",
            reference,
        )
    return build


def _sorted_names(field: str, word: str, descending: bool) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"
        reverse = ", reverse=True" if descending else ""
        return Function(
            "",
            "",
            f"names_of_{f.subject}_{f.slug}_{word}_first",
            f.subject,
            f"Return the names of the {f.subject} {f.plural}, {word} first.",
            "    chosen = []\n"
            + _loop(f, f"            chosen.append({var})\n")
            + f'    chosen.sort(key=lambda {var}: {var}["{field}"]{reverse})\n    return [{var}["name"] for {var} in chosen]\n',
            lambda rs: [r["name"] for r in sorted((r for r in rs if f.check(r)), key=lambda r: r[field], reverse=descending)],
        )

    return build


def _mapping(field: str) -> Callable[[Filter], Function]:
    def build(f: Filter) -> Function:
        var = "item" if f.subject == "items" else "person"
        return Function(
            "",
            "",
            f"{field}_by_name_of_{f.subject}_{f.slug}",
            f.subject,
            f"Return a dict from the name to the {field} of each of the {f.subject} {f.plural}.",
            "    result = {}\n" + _loop(f, f'            result[{var}["name"]] = {var}["{field}"]\n') + "    return result\n",
            lambda rs: {r["name"]: r[field] for r in rs if f.check(r)},
        )
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


def cost_function(kind: str, price: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function("", "", f"cost_of_{k.plural}", "count",
                    f"{lx.with_article(kind).capitalize()} costs {price} coins. Return the price of count {k.plural}.",
                    f"    return count * {price}\n", lambda count: count * price)


def order_cost_function(kind: str, price: int, discount: int) -> Function:
    k = lx.KIND_BY_NAME[kind]
    return Function("", "", f"order_cost_{k.plural}", "count",
                    f"{k.plural.capitalize()} cost {price} coins each and every order gets {discount} coins off. "
                    f"Return the cost of an order of count {k.plural}.",
                    f"    return count * {price} - {discount}\n", lambda count: count * price - discount)


def _singular(subject: str) -> str:
    return "item" if subject == "items" else "person"


# aggregate -> evaluation-only docstring: the same task said differently, in the world's words.
def _sorted_paraphrase(w: str) -> Callable[[Filter], str]:
    return lambda f: f"Return the names of the {f.subject} {f.plural}, sorted so that the {w} one comes first."


def _extreme_paraphrase(w: str) -> Callable[[Filter], str]:
    return lambda f: f"Among the {f.subject} {f.plural}, find the {w} {_singular(f.subject)} and return its name."


PARAPHRASES: dict[str, Callable[[Filter], str]] = {
    "count": lambda f: f"Count the {f.subject} {f.plural} and return how many there are.",
    "total_price": lambda f: f"Add up the price of each of the {f.subject} {f.plural} and return the total.",
    "total_weight": lambda f: f"Add up the weight of each of the {f.subject} {f.plural} and return the total.",
    "total_age": lambda f: f"Add up the age of each of the {f.subject} {f.plural} and return the total.",
    "names": lambda f: f"Return a list with the name of each of the {f.subject} {f.plural}, in order.",
    "average_price": lambda f: (
        f"Return the price of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none."
    ),
    "average_weight": lambda f: (
        f"Return the weight of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none."
    ),
    "average_age": lambda f: (
        f"Return the age of the {f.subject} {f.plural} on average, rounded down; return 0 if there are none."
    ),
    "price_by_name": lambda f: f"Return a dict that maps the name of each of the {f.subject} {f.plural} to its price.",
    "age_by_name": lambda f: f"Return a dict that maps the name of each of the {f.subject} {f.plural} to its age.",
    **{f"sorted_{w}": _sorted_paraphrase(w) for w in ("cheapest", "heaviest", "youngest")},
    **{w: _extreme_paraphrase(w) for w in ("heaviest", "lightest", "cheapest", "dearest", "oldest", "youngest")},
}
