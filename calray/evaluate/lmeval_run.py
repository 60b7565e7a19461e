"""Any lm-evaluation-harness task on a calray model: what ``calray eval --tasks`` runs.

lm-eval builds the requests and computes metrics and their standard errors; ``CalrayLM``
(lmeval_adapter.py) answers the requests with a calray ``EvalModel``. Local task YAMLs
(``dataset_path: json`` over local files) come in through ``include_path``; lm-eval's own
task index is read only when a task is not found there (indexing it takes seconds).
Per-item samples are written, one JSON Lines file per task, with lm-eval's serializer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calray.errors import CalrayError
from calray.evaluate.interface import EvalModel


@dataclass(frozen=True)
class LmEvalScore:
    """One metric of one task (lm-eval's "metric,filter" key split in two)."""

    task: str
    metric: str
    filter: str
    value: float
    stderr: float | None
    n: int
    num_fewshot: int | None


def task_manager(tasks: list[str], include_path: str | Path | None) -> Any:
    """An lm-eval ``TaskManager`` that knows ``tasks``: the include path alone if it defines
    them all, else with lm-eval's built-in tasks; an unknown name is a user error."""
    from lm_eval.tasks import TaskManager

    manager = None
    if include_path is not None:
        if not Path(include_path).is_dir():
            raise CalrayError(f"--include-path {str(include_path)!r} is not a directory of lm-eval task YAMLs")
        manager = TaskManager(include_path=str(include_path), include_defaults=False)
    if manager is None or not set(tasks) <= set(manager.all_tasks):
        manager = TaskManager(include_path=str(include_path) if include_path else None)
    unknown = sorted(set(tasks) - set(manager.all_tasks))
    if unknown:
        raise CalrayError(f"unknown lm-eval task(s) {unknown}; list them with `lm-eval ls tasks`, or pass "
                          "--include-path DIR for your own task YAMLs")
    return manager


def scores(results: dict[str, Any]) -> list[LmEvalScore]:
    """Every metric of every task in lm-eval's results dict, with its standard error."""
    out = []
    for task, metrics in results["results"].items():
        n = int(results.get("n-samples", {}).get(task, {}).get("effective", 0))
        shots = results.get("n-shot", {}).get(task)
        for key, value in metrics.items():
            if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            stderr = metrics.get(f"{metric}_stderr,{filt}")
            out.append(LmEvalScore(task, metric, filt, float(value),
                                   float(stderr) if isinstance(stderr, (int, float)) else None, n, shots))
    return out


def write_samples(results: dict[str, Any], directory: str | Path) -> list[Path]:
    """One ``<task>.jsonl`` per task under ``directory``: lm-eval's per-item records
    (document, arguments, responses, filtered answers, metrics)."""
    from lm_eval.utils import handle_non_serializable

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, samples in results.get("samples", {}).items():
        path = out / f"{task}.jsonl"
        path.write_text("".join(json.dumps(s, default=handle_non_serializable, ensure_ascii=False) + "\n" for s in samples))
        paths.append(path)
    return paths


def run_lmeval(
    model: EvalModel,
    tasks: list[str],
    *,
    include_path: str | Path | None = None,
    manager: Any = None,
    num_fewshot: int | None = None,
    limit: int | None = None,
    log_samples: bool = False,
    bootstrap_iters: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """lm-eval's results dict for ``tasks`` on ``model`` (``samples`` in it if ``log_samples``);
    ``manager``: a ``task_manager(tasks, include_path)`` built beforehand, to check the task
    names before a model is loaded."""
    import lm_eval

    from calray.evaluate.lmeval_adapter import CalrayLM

    results = lm_eval.simple_evaluate(
        model=CalrayLM(model), tasks=list(tasks), task_manager=manager or task_manager(tasks, include_path),
        num_fewshot=num_fewshot, limit=limit, log_samples=log_samples, bootstrap_iters=bootstrap_iters,
        random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
    )
    if results is None:  # only on non-zero ranks of a distributed run, which calray never starts
        raise CalrayError("lm-eval returned no results")
    return dict(results)
