"""What to evaluate a pruned model on, as one validated model: a pool job's ``evaluation``
field and the sweep config's ``evaluation:`` section (which adds where task data lives).

>>> settings = EvaluationSettings(capability_map="toy", dimensions=["math"], limit=20)
>>> list(settings.selected_map().dimensions)
['math']
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from calray.config import StrictModel
from calray.evaluate.capabilities import CapabilityMap, capability_map
from calray.evaluate.dense_cache import dense_key


class EvaluationSettings(StrictModel):
    """A capability map (a registered name, a YAML path or a dict), optionally restricted to
    some ``dimensions``, with every task capped at ``limit`` items and ``max_new_tokens``
    generated tokens; ``eval_seed`` picks the item subsets."""

    capability_map: str | dict[str, Any] = "paper"
    dimensions: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    eval_seed: int = 0

    def selected_map(self) -> CapabilityMap:
        """The map these settings evaluate: its chosen dimensions, with the limits applied."""
        cmap = capability_map(self.capability_map).select(self.dimensions)
        return cmap.with_overrides(limit=self.limit, max_new_tokens=self.max_new_tokens)

    @property
    def map_name(self) -> str:
        """The map's name for records: the registered name or path, or a dict's ``name``."""
        cmap = self.capability_map
        return cmap if isinstance(cmap, str) else str(cmap.get("name", "custom"))

    def dense_key(self, fingerprint: str) -> str:
        """What identifies the dense model's scores under these settings (see ``dense_key``)."""
        return dense_key(fingerprint, self.selected_map(), self.eval_seed)
