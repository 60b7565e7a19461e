"""Math domain: GSM8K-style word problems about the world's people and things.

A problem is a question plus a list of arithmetic steps; the same problem renders as worked
steps ending in ``#### answer`` (the training and evaluation format), as a long
MetaMath-like chain of thought, as bare equations, or as question and answer only. The skill
is digit arithmetic in a step structure; the nouns are the world's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calray.toy import lexicon as lx
from calray.toy.records import MathProblem
from calray.toy.splits import Split, draw_in_split
from calray.toy.world import Person, World, pick, sample


@dataclass(frozen=True)
class Step:
    before: str  # "The kettles cost"
    a: int
    op: str  # one of + - * /
    b: int
    after: str  # "coins"

    @property
    def value(self) -> int:
        a, b = self.a, self.b
        return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[self.op]

    @property
    def equation(self) -> str:
        return f"{self.a} {self.op} {self.b} = {self.value}"


@dataclass(frozen=True)
class Problem:
    question: str
    steps: tuple[Step, ...]

    @property
    def answer(self) -> int:
        return self.steps[-1].value


def _price(rng: np.random.Generator) -> int:
    """A price in coins. Problems state their own small numbers (one digit times one digit is
    what a two-million-parameter model can learn to multiply), not the lexicon's prices."""
    return int(rng.integers(2, 10))


def _buy_one(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = pick(rng, lx.KINDS)
    a, price = int(rng.integers(2, 10)), _price(rng)
    q = f"{p.name} buys {a} {k.plural} at {price} coins each. How many coins does {p.pronoun} pay?"
    return Problem(q, (Step(f"{p.name} pays", a, "*", price, "coins"),))


def _gets_more(world: World, p: Person, rng: np.random.Generator) -> Problem:
    name, owned = pick(rng, p.owns)
    k = lx.KIND_BY_NAME[name]
    more = int(rng.integers(2, 30))
    q = (f"{p.name} owns {owned} {k.plural if owned != 1 else k.name}. {p.friend} gives {p.possessive} "
         f"{more} more. How many {k.plural} does {p.name} have now?")
    return Problem(q, (Step(f"{p.name} has", owned, "+", more, k.plural),))


def _spend(world: World, p: Person, rng: np.random.Generator) -> Problem:
    money, spent = int(rng.integers(20, 100)), int(rng.integers(2, 20))
    q = f"{p.name} has {money} coins and spends {spent} coins at the market in {p.home}. How many coins are left?"
    return Problem(q, (Step(f"{p.name} has", money, "-", spent, "coins left"),))


def _buy_two(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k1, k2 = sample(rng, lx.KINDS, 2)
    a, b, p1, p2 = (int(x) for x in rng.integers(2, 10, size=4))
    q = (f"{p.name} buys {a} {k1.plural} at {p1} coins each and {b} {k2.plural} at {p2} coins each. How "
         f"many coins does {p.pronoun} spend?")
    s1 = Step(f"The {k1.plural} cost", a, "*", p1, "coins")
    s2 = Step(f"The {k2.plural} cost", b, "*", p2, "coins")
    return Problem(q, (s1, s2, Step("In total", s1.value, "+", s2.value, "coins")))


def _change(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = pick(rng, lx.KINDS)
    a, price = int(rng.integers(2, 10)), _price(rng)
    m = a * price + int(rng.integers(1, 41))
    q = (f"{p.name} goes to the market in {p.home} with {m} coins. {p.pronoun.capitalize()} buys {a} "
         f"{k.plural} for {price} coins each. How many coins does {p.pronoun} have left?")
    s1 = Step(f"The {k.plural} cost", a, "*", price, "coins")
    return Problem(q, (s1, Step(f"{p.name} has", m, "-", s1.value, "coins left")))


def _share(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = pick(rng, lx.KINDS)
    n_friends, each, kept = int(rng.integers(2, 8)), int(rng.integers(2, 10)), int(rng.integers(1, 10))
    total = n_friends * each + kept
    q = (f"{p.name} has {total} {k.plural}. {p.pronoun.capitalize()} keeps {kept} and shares the rest "
         f"equally among {n_friends} friends. How many {k.plural} does each friend get?")
    s1 = Step(f"{p.name} shares", total, "-", kept, k.plural)
    return Problem(q, (s1, Step("Each friend gets", s1.value, "/", n_friends, k.plural)))


def _weight(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k1, k2 = sample(rng, lx.KINDS, 2)
    a, w1, w2 = int(rng.integers(2, 10)), 100 * int(rng.integers(1, 10)), 100 * int(rng.integers(1, 16))
    q = (f"{lx.with_article(k1.name).capitalize()} weighs {w1} grams and {lx.with_article(k2.name)} "
         f"weighs {w2} grams. {p.name} carries {a} {k1.plural} and one {k2.name}. How many grams does {p.pronoun} carry?")
    s1 = Step(f"The {k1.plural} weigh", a, "*", w1, "grams")
    return Problem(q, (s1, Step("Together they weigh", s1.value, "+", w2, "grams")))


def _grow(world: World, p: Person, rng: np.random.Generator) -> Problem:
    name, owned = pick(rng, p.owns)
    k = lx.KIND_BY_NAME[name]
    per_week, weeks = int(rng.integers(2, 10)), int(rng.integers(2, 7))
    q = (f"{p.name} the {p.job} owns {owned} {k.plural if owned != 1 else k.name}. Every week {p.pronoun} "
         f"gets {per_week} more. How many {k.plural} will {p.pronoun} have after {weeks} weeks?")
    s1 = Step(f"In {weeks} weeks {p.pronoun} gets", per_week, "*", weeks, k.plural)
    return Problem(q, (s1, Step(f"{p.name} will have", owned, "+", s1.value, k.plural)))


def _sales(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = lx.KIND_BY_NAME[lx.JOB_GOODS[p.job]]  # what the seller's trade makes
    a, b, price = int(rng.integers(2, 10)), int(rng.integers(2, 10)), _price(rng)
    day = pick(rng, lx.WEEKDAYS[:6])
    q = (f"{p.name} sells {a} {k.plural} on {day} and {b} {k.plural} the next day, for {price} coins "
         f"each. How many coins does {p.pronoun} earn?")
    s1 = Step(f"{p.name} sells", a, "+", b, k.plural)
    return Problem(q, (s1, Step(f"{p.pronoun.capitalize()} earns", s1.value, "*", price, "coins")))


def _boxes(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = pick(rng, lx.KINDS)
    boxes, per_box = int(rng.integers(2, 10)), int(rng.integers(2, 10))
    given = int(rng.integers(1, boxes * per_box))
    q = (f"{p.name} has {boxes} boxes with {per_box} {k.plural} in each box. {p.pronoun.capitalize()} "
         f"gives {given} {k.plural} to {p.friend}. How many {k.plural} are left?")
    s1 = Step("There are", boxes, "*", per_box, k.plural)
    return Problem(q, (s1, Step("After the gift there are", s1.value, "-", given, k.plural)))


def _afford(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k = pick(rng, lx.KINDS)
    count, spent, price = int(rng.integers(2, 10)), int(rng.integers(2, 31)), _price(rng)
    money = price * count + spent
    place = pick(rng, world.places)
    q = (f"In {place.name}, {k.plural} cost {price} coins each. {p.name} has {money} coins and spends "
         f"{spent} coins on bread. How many {k.plural} can {p.pronoun} buy with the rest?")
    s1 = Step(f"{p.name} has", money, "-", spent, "coins left")
    return Problem(q, (s1, Step(f"{p.pronoun.capitalize()} can buy", s1.value, "/", price, k.plural)))


def _pay(world: World, p: Person, rng: np.random.Generator) -> Problem:
    k1, k2 = sample(rng, lx.KINDS, 2)
    a, b, p1, p2 = int(rng.integers(2, 7)), int(rng.integers(2, 7)), _price(rng), _price(rng)
    total = a * p1 + b * p2
    money = (total // 50 + 1 + int(rng.integers(0, 2))) * 50
    q = (f"{p.name} buys {a} {k1.plural} for {p1} coins each and {b} {k2.plural} for {p2} coins each. "
         f"{p.pronoun.capitalize()} pays with {money} coins. How much change does {p.pronoun} get?")
    s1 = Step(f"The {k1.plural} cost", a, "*", p1, "coins")
    s2 = Step(f"The {k2.plural} cost", b, "*", p2, "coins")
    s3 = Step("Together they cost", s1.value, "+", s2.value, "coins")
    return Problem(q, (s1, s2, s3, Step(f"{p.name} gets", money, "-", s3.value, "coins back")))


TEMPLATES: tuple[Callable[[World, Person, np.random.Generator], Problem], ...] = (
    _buy_one, _gets_more, _spend, _buy_two, _change, _share, _weight, _grow, _sales, _boxes, _afford, _pay,
)


def problem(world: World, rng: np.random.Generator, split: Split) -> Problem:
    """A random problem whose question belongs to ``split``."""
    return draw_in_split(lambda: pick(rng, TEMPLATES)(world, pick(rng, world.people), rng),
                         lambda pr: pr.question, split, seed=world.seed)


# ---- renderings ----------------------------------------------------------------------

def solution(pr: Problem) -> str:
    """GSM8K answer format: one sentence with its equation per step, then ``#### answer``."""
    return "\n".join(f"{s.before} {s.equation} {s.after}." for s in pr.steps) + f"\n#### {pr.answer}"


def worked(pr: Problem) -> str:
    """The training and evaluation format: the prompt, then the solution."""
    return f"{MathProblem.prompt(pr.question)} {solution(pr)}"


_ORDINALS = ("First", "Next", "Then", "After that", "Finally")


def chain_of_thought(pr: Problem) -> str:
    """MetaMath-like: restates the question and explains every step at length."""
    out = [f"Question: {pr.question}", "Answer: Let's think step by step.",
           "We need to find the answer to: " + pr.question.rsplit(". ", 1)[-1]]
    for i, s in enumerate(pr.steps):
        word = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[s.op]
        ordinal = _ORDINALS[min(i, len(_ORDINALS) - 2)] if i < len(pr.steps) - 1 else _ORDINALS[-1]
        out.append(
            f"{ordinal}, we {word} {s.a} and {s.b}. {s.before} {s.equation} {s.after}. So the result of this step is {s.value}."
        )
    out.append(f"Therefore the answer is {pr.answer}.\nThe answer is: {pr.answer}")
    return "\n".join(out)


def equations(pr: Problem) -> str:
    """Only the arithmetic, one equation per line."""
    return "\n".join(s.equation for s in pr.steps)


def question_and_answer(pr: Problem) -> str:
    """SVAMP-like: the problem and its final number, no steps."""
    return f"{pr.question}\nAnswer: {pr.answer}"


# Document generators: (world, rng, split) -> one document made of ``split``'s problems.

def worked_doc(world: World, rng: np.random.Generator, split: Split) -> str:
    return worked(problem(world, rng, split))


def chain_of_thought_doc(world: World, rng: np.random.Generator, split: Split) -> str:
    return chain_of_thought(problem(world, rng, split))


def equations_doc(world: World, rng: np.random.Generator, split: Split) -> str:
    """Several problems' equations and nothing else, like a page of sums."""
    return "\n".join(equations(problem(world, rng, split)) for _ in range(int(rng.integers(3, 8))))


def question_and_answer_doc(world: World, rng: np.random.Generator, split: Split) -> str:
    return "\n\n".join(question_and_answer(problem(world, rng, split)) for _ in range(int(rng.integers(2, 5))))


def document(world: World, rng: np.random.Generator, split: Split) -> str:
    """The math training mix: worked problems, some long chains of thought, a fifth arithmetic drill."""
    r = rng.random()
    if r < 0.7:
        return worked_doc(world, rng, split)
    if r < 0.8:
        return chain_of_thought_doc(world, rng, split)
    return equations_doc(world, rng, split)


def math_item(world: World, rng: np.random.Generator) -> MathProblem:
    pr = problem(world, rng, "evaluation")
    return MathProblem(question=pr.question, solution=solution(pr), answer=str(pr.answer))
