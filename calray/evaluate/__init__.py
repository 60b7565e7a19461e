"""Per-capability evaluation of a (pruned) model and its retention against the dense model.

Tasks talk to an ``EvalModel`` (``loglikelihood``, ``loglikelihood_rolling``,
``generate_until``, batched); ``HFModel`` implements it for a transformers model. Built-in
tasks carry lm-eval-harness's names and prompts; a ``CapabilityMap`` groups tasks into
dimensions; ``retention`` compares pruned with dense scores; ``EvaluationSettings`` (a map,
its dimensions and limits) is what a pool job and a sweep config say to evaluate on, and
``dense_key`` the one key of a model's dense scores under them.

>>> from calray.evaluate import HFModel, capability_map, evaluate_capabilities, LocalData
>>> lm = HFModel.from_pretrained("model-dir")  # doctest: +SKIP
>>> paper = capability_map("paper").with_overrides(limit=50)
>>> scores = evaluate_capabilities(lm, paper, data=LocalData(root="data"))  # doctest: +SKIP

Tasks from in-memory records, and a map over them (register the tasks first: a map's
entries are checked against the task registry):

>>> register_task(MultipleChoiceTask(name="toy_mc", items=[ChoiceItem("2+2=", ("4", "5"), 0)]))  # doctest: +SKIP
>>> register_capability_map("mine", {"dimensions": {"math": [{"task": "toy_mc", "metric": "acc"}]}})  # doctest: +SKIP

The package is callable: ``calray.evaluate(model, capabilities="toy", limit=20, dense="toy")``
is ``evaluate_model`` (simple.py), the one-call form for notebooks.
"""

import sys
import types
from typing import Any

from calray.evaluate import builtin as _builtin  # noqa: F401  (registers the built-in tasks)
from calray.evaluate.builtin.sources import LocalData, load_local_data
from calray.evaluate.capabilities import CapabilityMap, TaskSpec, capability_map, load_builtin_maps, register_capability_map
from calray.evaluate.dense_cache import DenseCache, dense_key, fingerprint_dir, fingerprint_module
from calray.evaluate.hf_model import HFModel, config_max_length
from calray.evaluate.interface import EvalModel, GenerationArgs, LoglikelihoodResult, RollingResult
from calray.evaluate.registry import CAPABILITY_MAPS, TASKS, get_task, register_task
from calray.evaluate.retention import ChanceRule, RetentionReport, TaskRetention, retention
from calray.evaluate.runner import CapabilityScores, evaluate_capabilities, evaluate_task
from calray.evaluate.sandbox import ExecResult, SandboxLimits, run_program, run_programs
from calray.evaluate.settings import EvaluationSettings
from calray.evaluate.simple import Evaluation, evaluate_model
from calray.evaluate.tasks import (
    AnswerItem,
    ChoiceItem,
    CodeItem,
    CodeTask,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    Task,
    TaskGroup,
    TaskScore,
    TextItem,
)
from calray.evaluate.token_lm import ContinuationQuery, TokenLM, rolling_windows, score_continuations, tokenizer_adds_bos

load_builtin_maps()


class _CallableModule(types.ModuleType):
    """Makes ``calray.evaluate(...)`` call ``evaluate_model``: the one-call API and this
    package share their name, and ``import calray.evaluate`` binds the package to it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Evaluation:
        return evaluate_model(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "CAPABILITY_MAPS",
    "TASKS",
    "AnswerItem",
    "CapabilityMap",
    "CapabilityScores",
    "ChanceRule",
    "ChoiceItem",
    "CodeItem",
    "CodeTask",
    "ContinuationQuery",
    "DenseCache",
    "EvalModel",
    "Evaluation",
    "EvaluationSettings",
    "ExecResult",
    "GenerationArgs",
    "GenerationTask",
    "HFModel",
    "LocalData",
    "LoglikelihoodResult",
    "MultipleChoiceTask",
    "PerplexityTask",
    "RetentionReport",
    "RollingResult",
    "SandboxLimits",
    "Task",
    "TaskGroup",
    "TaskRetention",
    "TaskScore",
    "TaskSpec",
    "TextItem",
    "TokenLM",
    "capability_map",
    "config_max_length",
    "dense_key",
    "evaluate_capabilities",
    "evaluate_model",
    "evaluate_task",
    "fingerprint_dir",
    "fingerprint_module",
    "get_task",
    "load_local_data",
    "register_capability_map",
    "register_task",
    "retention",
    "rolling_windows",
    "run_program",
    "run_programs",
    "score_continuations",
    "tokenizer_adds_bos",
]
