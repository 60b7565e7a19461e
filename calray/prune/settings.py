"""How to prune, as one validated model: the sweep config's ``prune:`` section, a pool job's
``prune`` field and ``calray export`` all read this, so a setting has one name and one default.

>>> settings = PruneSettings(sparsity=0.6, mode="independent")
>>> settings.target(), settings.pruning_method().percdamp
(Target(sparsity=0.6, n_m=None), 0.01)

Modes: ``sequential`` prunes each block on the outputs of the already-pruned blocks before it
(the paper's setting, exact: ``prune_blocks``); ``independent`` prunes every block from
per-source statistics of the windows sequential mode would allocate each source, mixed by
count (fast: ``prune_mixed``), collected on the dense model's activations or, with ``anchor``
(a mixture; a sweep also takes ``uniform``: its sources alike), on those of that mixture's
sequentially pruned model, which carries pruning error forward.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, model_validator

from calray.config import StrictModel
from calray.errors import CalrayError
from calray.prune.driver import statistic_needed
from calray.prune.methods import METHODS, PruningMethod
from calray.prune.target import Target

Mode = Literal["sequential", "independent"]
MODES: tuple[Mode, ...] = ("sequential", "independent")


class PruneSettings(StrictModel):
    """The method and its options, exactly one target (``sparsity`` or ``n_m``), the mode (and
    independent mode's ``anchor``), and the driver's settings (``batch_size`` samples per
    forward, ``layer_errors`` measured, ``include``/``exclude`` patterns over linear names)."""

    method: str = "sparsegpt"
    method_options: dict[str, float | int] = {}
    sparsity: float | None = None
    n_m: str | None = None
    mode: Mode = "sequential"
    anchor: str | None = None
    batch_size: int = Field(default=8, ge=1)
    layer_errors: bool = True
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_target(self) -> PruneSettings:
        try:
            Target.parse(sparsity=self.sparsity, n_m=self.n_m)
        except CalrayError as exc:
            raise ValueError(str(exc)) from None
        if self.anchor is not None and self.mode != "independent":
            raise ValueError(f"anchor {self.anchor!r} applies to independent mode only (mode is {self.mode!r})")
        return self

    def target(self) -> Target:
        return Target.parse(sparsity=self.sparsity, n_m=self.n_m)

    def pruning_method(self) -> PruningMethod:
        """The registered method with these options; ``CalrayError`` for an unknown method or
        option (checked here, not at construction: setup modules may register methods later)."""
        method = METHODS.get(self.method)
        if not self.method_options:
            return method
        try:
            return dataclasses.replace(method, **self.method_options)  # type: ignore[type-var]
        except TypeError as exc:
            raise CalrayError(f"method {self.method!r} does not take options {sorted(self.method_options)}: {exc}") from None

    def needs_calibration(self) -> bool:
        """Whether pruning reads calibration statistics (magnitude without layer errors does not)."""
        return statistic_needed(self.pruning_method(), layer_errors=self.layer_errors) != "none"
