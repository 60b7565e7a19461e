"""Built-in benchmark tasks (lm-eval-harness names, prompts and metrics), registered on import."""

from calray.evaluate.builtin import code, commonsense, extra_math, general, gsm8k  # noqa: F401  (registers tasks)
from calray.evaluate.builtin.sources import LocalData, load_local_data

__all__ = ["LocalData", "load_local_data"]
