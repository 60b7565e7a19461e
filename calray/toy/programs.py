"""Code domain: which functions exist, which are held out, and the documents and tasks made of them.

The functions (``calray.toy.functions``) form a grid: each (aggregate, filter kind) pair is
a *combination* with a parameter space drawn from the lexicon and the world. A seeded
quarter of the combinations is held out entirely, and a fifth of the parameter values of
the others: evaluation tasks use only held-out functions, training and calibration code
never does. So an evaluation task is either a composition never seen (count + cheaper
than) or a known composition with parameters never seen, and half the tasks state their
docstring in words no training docstring uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.functions import (
    FILTERS,
    ITEM_AGGREGATES,
    PARAPHRASES,
    PEOPLE_AGGREGATES,
    Filter,
    Function,
    Record,
    cost_function,
    order_cost_function,
)
from calray.toy.records import CodeTask
from calray.toy.world import World, pick, sample

HELD_OUT_COMBINATIONS = 0.25
HELD_OUT_PARAMETERS = 0.2


# ---- the grid of combinations and its hold-out ---------------------------------------

@dataclass(frozen=True)
class Combination:
    name: str
    params: Callable[[World], list[Any]]
    build: Callable[[Any], Function]


def _composed(agg: Callable[[Filter], Function], make_filter: Callable[[Any], Filter]) -> Callable[[Any], Function]:
    return lambda v: agg(make_filter(v))


def _combinations() -> tuple[Combination, ...]:
    out = []
    for filter_kind, (subject, make_filter, values) in FILTERS.items():
        aggregates = ITEM_AGGREGATES if subject == "items" else PEOPLE_AGGREGATES
        for agg_name, agg in aggregates.items():
            out.append(Combination(f"{agg_name}/{filter_kind}", values, _composed(agg, make_filter)))
    out.append(
        Combination("cost/kind", lambda w: [(k.name, p) for k in lx.KINDS for p in range(2, 21)], lambda v: cost_function(*v))
    )
    out.append(
        Combination(
            "order_cost/kind",
            lambda w: [(k.name, p, d) for k in lx.KINDS for p in range(3, 13) for d in (1, 2, 5)],
            lambda v: order_cost_function(*v),
        )
    )
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
def split_values(world: World, combination: str, held_out: bool) -> tuple[Any, ...]:
    """The parameter values of ``combination`` that are held out (or, with ``held_out=False``, trained on)."""
    combo = next(c for c in COMBINATIONS if c.name == combination)
    values = combo.params(world)
    if combination in held_out_combinations(world.seed):
        return tuple(values) if held_out else ()
    ranked = sorted(values, key=lambda v: _bucket(world.seed, f"{combination}:{v}"))
    n_held = max(1, round(HELD_OUT_PARAMETERS * len(ranked)))  # every combination keeps some of each
    return tuple(ranked[:n_held] if held_out else ranked[n_held:])


def function(world: World, rng: np.random.Generator, *, held_out: bool = False) -> Function:
    """A random function, of the held-out ones or of the rest; every combination about equally often."""
    combos = [c for c in COMBINATIONS if split_values(world, c.name, held_out)]
    combo = pick(rng, combos)
    return build(combo, pick(rng, split_values(world, combo.name, held_out)))


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
    return (f"### Instruction:\nWrite a Python function {fn.name}({fn.arg}) for this task: "
            f"{fn.doc}\n\n### Response:\n```python\n{fn.source}```")


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
