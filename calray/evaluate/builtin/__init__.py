"""Built-in benchmark tasks (lm-eval-harness names, prompts and metrics) and the toy world's
tasks (``toy:*``), registered on import."""

from calray.evaluate.builtin import code, commonsense, extra_math, general, gsm8k, toy  # noqa: F401  (registers tasks)
from calray.evaluate.builtin.sources import LocalData, load_local_data

__all__ = ["LocalData", "load_local_data"]
