"""humaneval (0-shot) and mbpp (3-shot), lm-eval's prompts, stop strings and test programs."""

from __future__ import annotations

from calray.evaluate.builtin.sources import LocalData, rows
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import CodeItem, CodeTask


def humaneval_items(data: LocalData | None) -> list[CodeItem]:
    recs, _ = rows("humaneval", data, "humaneval/HumanEval.jsonl.gz", ("openai/openai_humaneval", None, "test"))
    return [CodeItem(r["prompt"], f"{r['test']}\ncheck({r['entry_point']})", program_prefix=r["prompt"]) for r in recs]


def mbpp_prompt(r: dict) -> str:
    tests = "\n".join(r["test_list"][:3])
    return (f"You are an expert Python programmer, and here is your task: {r['text']} Your code should "
            f"pass these tests:\n\n{tests}\n[BEGIN]\n")


def _mbpp(data: LocalData | None, ids: range) -> list[CodeItem]:
    recs, _ = rows(
        "mbpp", data, "mbpp/mbpp.jsonl", ("google-research-datasets/mbpp", "full", "test" if ids.start > 10 else "prompt")
    )
    # local: the full 974-task file; both: test = task ids 11-510, few-shot examples = 2, 3, 4
    recs = [r for r in recs if int(r["task_id"]) in ids]
    # lm-eval runs the completion followed by the three asserts (test_setup_code is not used)
    return [CodeItem(mbpp_prompt(r), "\n".join(r["test_list"]), target=r["code"] + "\n[DONE]") for r in recs]


HUMANEVAL = CodeTask(
    name="humaneval",
    items=humaneval_items,
    until=("\nclass", "\ndef", "\n#", "\nif", "\nprint"),
    max_new_tokens=1024,
)
MBPP = CodeTask(
    name="mbpp",
    items=lambda data: _mbpp(data, range(11, 511)),
    fewshot_items=lambda data: _mbpp(data, range(2, 5)),
    num_fewshot=3,
    fewshot_sampler="first_n",
    target_delimiter="",
    until=("[DONE]",),
    max_new_tokens=256,
)
register_task(HUMANEVAL)
register_task(MBPP)
