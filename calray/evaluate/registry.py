"""Named tasks and capability maps, so configs and the CLI refer to them by name.

>>> from calray.evaluate import register_task, MultipleChoiceTask, ChoiceItem
>>> register_task(MultipleChoiceTask(name="toy_mc", items=[ChoiceItem("2+2=", ("4", "5"), 0)]))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calray.registry import Registry

if TYPE_CHECKING:
    from calray.evaluate.capabilities import CapabilityMap
    from calray.evaluate.tasks.base import Evaluable

TASKS: Registry[Evaluable] = Registry("task")
CAPABILITY_MAPS: Registry[CapabilityMap] = Registry("capability map")


def register_task(task: Evaluable) -> Evaluable:
    """Register ``task`` under ``task.name`` (duplicates are refused)."""
    return TASKS.register(task.name, task)


def get_task(name: str) -> Evaluable:
    return TASKS.get(name)
