"""Plain evaluation records, one type per task kind of the evaluation harness.

They carry data only (no scoring): the harness in ``calray.evaluate`` decides how to score
them. Field names follow lm-evaluation-harness conventions where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChoiceItem:
    """Multiple choice by log-likelihood: score ``query + " " + choices[i]``; ``gold`` indexes the right one."""

    query: str
    choices: tuple[str, ...]
    gold: int

    @classmethod
    def shuffled(cls, query: str, gold: str, distractors: list[str], rng: np.random.Generator) -> ChoiceItem:
        """The item with ``gold`` placed at a random position."""
        choices = [gold, *distractors]
        order = rng.permutation(len(choices))  # position -> index into choices
        return cls(query=query, choices=tuple(choices[i] for i in order), gold=int(np.argmin(order)))


@dataclass(frozen=True)
class MathProblem:
    """Greedy generation from ``query``; exact match of the number after ``#### `` with ``answer``."""

    question: str
    solution: str  # the worked steps ending in "#### 41", as a few-shot target would show them
    answer: str  # the final number, as text ("41")

    @property
    def query(self) -> str:
        return self.prompt(self.question)

    @staticmethod
    def prompt(question: str) -> str:
        return f"Question: {question}\nAnswer:"


@dataclass(frozen=True)
class CodeTask:
    """HumanEval-like: complete ``prompt`` (signature + docstring); pass when ``test`` + ``check(entry_point)`` runs clean."""

    task_id: str
    prompt: str
    entry_point: str
    test: str  # defines check(candidate)
    canonical_solution: str  # the body that completes ``prompt``

    def program(self, completion: str) -> str:
        """The script a sandbox runs: prompt, completion, tests, and the call of ``check``."""
        return f"{self.prompt}{completion}\n\n{self.test}\n\ncheck({self.entry_point})\n"


# Stop strings for greedy generation, as HumanEval and GSM8K harnesses use them.
MATH_STOP = ("\n\n", "Question:")
CODE_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n\n\n")
