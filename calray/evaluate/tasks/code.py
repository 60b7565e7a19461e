"""Code generation scored by pass@1: the greedy completion is run against the task's tests.

The program that runs is ``item.program_prefix + completion + "\\n" + item.tests`` (HumanEval:
prefix = the prompt, tests = ``check(entry_point)``; MBPP: no prefix, tests = the asserts),
always inside the sandbox (``calray.evaluate.sandbox``). With one greedy sample per problem,
pass@1 is the fraction of problems whose program passes. Chance is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calray.evaluate.interface import GenerationArgs
from calray.evaluate.sandbox import SandboxLimits, run_programs
from calray.evaluate.tasks.base import MetricInfo, Task, TaskScore


@dataclass(frozen=True)
class CodeItem:
    """A coding problem: prompt, reference solution text for few-shot examples, and tests."""

    query: str
    tests: str
    program_prefix: str = ""
    target: str = ""

    def program(self, completion: str) -> str:
        return self.program_prefix + completion + "\n" + self.tests + "\n"


@dataclass(frozen=True, kw_only=True)
class CodeTask(Task[CodeItem]):
    until: tuple[str, ...] = ()
    max_new_tokens: int = 512
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    workers: int = 2

    @property
    def metrics(self) -> dict[str, MetricInfo]:
        return {"pass@1": MetricInfo(higher_is_better=True)}

    @property
    def default_metric(self) -> str:
        return "pass@1"

    def query(self, item: CodeItem) -> str:
        return item.query

    def target(self, item: CodeItem) -> str:
        return item.target

    def evaluate(self, model, *, data=None, limit=None, num_fewshot=None, max_new_tokens=None, seed=0) -> TaskScore:
        items, pool, chosen = self.select(data, limit, seed)
        k = self.num_fewshot if num_fewshot is None else num_fewshot
        args = GenerationArgs(until=self.until, max_new_tokens=max_new_tokens or self.max_new_tokens)
        completions = model.generate_until([(self.prompt(i, items, pool, k, seed), args) for i in chosen])
        results = run_programs(
            [items[i].program(c) for i, c in zip(chosen, completions, strict=True)], self.limits, workers=self.workers
        )
        passed = [float(r.passed) for r in results]
        return self.make_score({"pass@1": sum(passed) / len(chosen)}, len(chosen), {"pass@1": 0.0}, {"pass@1": passed})
