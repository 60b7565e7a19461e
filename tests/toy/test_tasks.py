import json
import subprocess
import sys

import pytest

from calray.toy.records import ChoiceItem, CodeTask, MathProblem
from calray.toy.tasks import TASKS, task

# Runs every program in its own namespace in one child process; prints which ones passed.
RUNNER = """
import json, sys
passed = []
for program in json.load(sys.stdin):
    try:
        exec(compile(program, "<task>", "exec"), {"__name__": "__task__"})
        passed.append(True)
    except Exception:
        passed.append(False)
print(json.dumps(passed))
"""


def run_programs(programs: list[str]) -> list[bool]:
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(programs), capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_every_dimension_has_tasks_of_the_right_kinds():
    kinds = {(t.dimension, t.kind) for t in TASKS}
    assert kinds >= {("general", "perplexity"), ("general", "multiple_choice"), ("commonsense", "multiple_choice"),
                     ("math", "exact_match"), ("code", "pass_at_1")}
    assert len({t.name for t in TASKS}) == len(TASKS)


@pytest.mark.parametrize("name", [t.name for t in TASKS])
def test_records_are_deterministic_distinct_and_well_formed(name):
    t = task(name)
    records = t.records()
    assert records == t.records() and len(records) == t.size
    assert records[:5] != t.records(seed=1)[:5]
    if t.kind == "multiple_choice":
        assert 300 <= len(records) <= 500
        assert all(isinstance(r, ChoiceItem) and len(set(r.choices)) == len(r.choices) for r in records)
        golds = [r.gold for r in records]
        assert len(set(golds)) == len(records[0].choices)  # the answer is not always in one position
        assert t.chance == pytest.approx(1 / len(records[0].choices))
    elif t.kind == "exact_match":
        assert all(isinstance(r, MathProblem) and r.solution.endswith(f"#### {r.answer}") for r in records)
    elif t.kind == "pass_at_1":
        assert all(isinstance(r, CodeTask) for r in records)
        assert len({r.task_id for r in records}) == len(records)
    else:
        assert all(isinstance(r, str) and r for r in records)


def test_canonical_code_solutions_pass_and_wrong_ones_fail():
    tasks = task("toy:humaneval").records()
    canonical = run_programs([t.program(t.canonical_solution) for t in tasks])
    assert all(canonical), [t.task_id for t, ok in zip(tasks, canonical, strict=True) if not ok]
    wrong = run_programs([t.program("    return None\n") for t in tasks[:30]])
    assert not any(wrong)
    # A subtly wrong body (off by one / wrong constant) fails too: the tests check values.
    subtle = [t for t in tasks if "return count * " in t.canonical_solution][:10]
    assert subtle
    broken = run_programs([t.program(t.canonical_solution.replace("return count * ", "return 1 + count * ")) for t in subtle])
    assert not any(broken)
