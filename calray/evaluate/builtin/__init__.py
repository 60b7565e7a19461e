"""Built-in benchmark tasks (lm-eval-harness names, prompts and metrics), registered on import,
and the toy world's tasks (``toy:*``), registered on the first lookup of a ``toy:`` task."""

from calray.evaluate.builtin import code, commonsense, extra_math, general, gsm8k  # noqa: F401  (registers tasks)
from calray.evaluate.builtin.sources import LocalData, load_local_data
from calray.evaluate.registry import TASKS


def _register_toy_tasks() -> None:
    from calray.evaluate.builtin.toy import register_toy_tasks  # the toy world, on first use only

    register_toy_tasks()


TASKS.defer("toy:", _register_toy_tasks)

__all__ = ["LocalData", "load_local_data"]
