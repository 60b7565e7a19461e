"""Task kinds: multiple choice, rolling perplexity, generation with exact match, code pass@1."""

from calray.evaluate.tasks.base import Evaluable, MetricInfo, Task, TaskGroup, TaskScore, subset
from calray.evaluate.tasks.code import CodeItem, CodeTask
from calray.evaluate.tasks.generation import (
    AnswerItem,
    GenerationTask,
    flexible_extract,
    gsm8k_normalize,
    ignore_regexes,
    regex_extract,
    strict_extract,
)
from calray.evaluate.tasks.multiple_choice import ChoiceItem, MultipleChoiceTask
from calray.evaluate.tasks.perplexity import PerplexityTask, TextItem

__all__ = [
    "AnswerItem", "ChoiceItem", "CodeItem", "CodeTask", "Evaluable", "GenerationTask", "MetricInfo",
    "MultipleChoiceTask", "PerplexityTask", "Task", "TaskGroup", "TaskScore", "TextItem",
    "flexible_extract", "gsm8k_normalize", "ignore_regexes", "regex_extract", "strict_extract", "subset",
]
